import { expect, test, type Page } from "@playwright/test";
import { hydrated, signUp, uniqueEmail } from "./helpers";

/** Every wasm file the page fetches, by name. */
function wasmRequests(page: Page): string[] {
  const names: string[] = [];
  page.on("request", (request) => {
    const name = new URL(request.url()).pathname.split("/").pop() ?? "";
    if (name.endsWith(".wasm")) names.push(name);
  });
  return names;
}

test("a page loads the shell and its own code; another page's code comes when it is first visited, a dialog's when it is first opened", async ({
  page,
}) => {
  const fetched = wasmRequests(page);
  await page.goto("/login");
  await hydrated(page);
  expect(fetched.some((name) => name.startsWith("split___login_view"))).toBe(true);
  expect(fetched.some((name) => name.startsWith("split___api_keys_view"))).toBe(false);

  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  expect(fetched.some((name) => name.startsWith("split___api_keys_view"))).toBe(false);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API Keys" }).click();
  await expect(page.getByRole("heading", { name: "No API keys yet" })).toBeVisible();
  await hydrated(page);
  expect(fetched.some((name) => name.startsWith("split___api_keys_view"))).toBe(true);
  expect(fetched.some((name) => name.startsWith("split_dialog_"))).toBe(false);

  await page.getByRole("button", { name: "Create API key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel("Name")).toBeFocused();
  expect(fetched.some((name) => name.startsWith("split_dialog_"))).toBe(true);
});
