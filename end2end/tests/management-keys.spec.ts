import { expect, test } from "@playwright/test";
import { hydrated, invite, openFromMenu, signUp, uniqueEmail } from "./helpers";

test("an admin creates a management key, which manages keys; a viewer sees no button to make one", async ({
  page,
  browser,
  request,
}) => {
  // An owner brings in an admin and a viewer.
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  await openFromMenu(page, "Members");
  const adminLink = await invite(page, uniqueEmail(), "admin");
  const viewerLink = await invite(page, uniqueEmail(), "viewer");
  const join = async (link: string) => {
    const other = await (await browser.newContext()).newPage();
    await other.goto(link);
    await hydrated(other);
    await other.getByLabel("Choose a password").fill("a new and long password");
    await other.getByRole("button", { name: "Create user and join" }).click();
    await expect(other).toHaveURL(/\/dashboard\/api-keys$/);
    await hydrated(other);
    return other;
  };
  const admin = await join(adminLink);

  // The management keys have a section of their own.
  const section = admin.getByRole("region", { name: "Management keys" });
  await expect(section.getByText("No management keys.")).toBeVisible();
  await section.getByRole("button", { name: "Create management key" }).click();
  const dialog = admin.getByRole("dialog", { name: "Create management key" });
  await expect(dialog.getByLabel("Name")).toBeFocused();
  // Keysmith's own permissions, by group, never the platform's.
  await expect(dialog.getByRole("group", { name: "Keys" }).getByRole("checkbox")).toHaveCount(4);
  await expect(dialog.getByLabel("read", { exact: true })).toHaveCount(0);
  await expect(dialog.getByLabel("keys:write")).toHaveAccessibleDescription(/Also grants keys:read\.$/);
  await expect(dialog.getByText("Owner and metadata", { exact: true })).toHaveCount(0);
  await dialog.getByLabel("Name").fill("CI deploys");
  await dialog.getByLabel("keys:write").check();
  await dialog.getByRole("button", { name: "Create" }).click();
  const created = admin.getByRole("dialog", { name: "Management key created" });
  const secret = await created.getByLabel("Your management key").inputValue();
  expect(secret).toMatch(/^ks_live_/);
  await created.getByRole("button", { name: "Done" }).click();
  await created.getByRole("button", { name: "Yes, close" }).click();
  await expect(created).toBeHidden();
  const row = section.getByRole("row", { name: /CI deploys/ });
  await expect(row.getByRole("list", { name: "Scopes" })).toHaveText("keys:write");
  await expect(admin.getByRole("table", { name: "API keys, newest first" })).toHaveCount(0);

  // The CI job makes an API key with it; the list names it as the maker.
  const made = await request.post("/api/v2/api-keys", {
    headers: { "X-API-Key": secret },
    data: { name: "Made by CI", scopes: ["read"] },
  });
  expect(made.status()).toBe(201);
  await admin.reload();
  await hydrated(admin);
  const keys = admin.getByRole("table", { name: "API keys, newest first" });
  await expect(keys.getByRole("row", { name: /Made by CI/ })).toContainText("by CI deploys (management key)");

  // A viewer sees the keys, and no button to make either kind.
  const viewer = await join(viewerLink);
  await expect(viewer.getByRole("region", { name: "Management keys" }).getByRole("row", { name: /CI deploys/ })).toBeVisible();
  await expect(viewer.getByRole("button", { name: "Create management key" })).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: "Create API key" })).toHaveCount(0);
});
