import { expect, test } from "@playwright/test";
import { hydrated, openFromMenu, signUp, uniqueEmail } from "./helpers";

// This server declares MediaKit's permission catalogue.
test.use({ baseURL: process.env.KEYSMITH_E2E_CATALOGUE_URL });

test("a key is made with the operator's own permissions, grouped and described, and verify follows them", async ({ page, request }) => {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  await openFromMenu(page, "API Keys");

  await page.getByRole("button", { name: "Create API key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await expect(dialog.getByLabel("Name")).toBeFocused();
  // The catalogue's groups, each permission with what it allows and implies.
  const assets = dialog.getByRole("group", { name: "Assets" });
  await expect(assets.getByRole("checkbox")).toHaveCount(2);
  await expect(dialog.getByRole("group", { name: "Analytics" }).getByLabel("read:analytics")).toBeVisible();
  await expect(dialog.getByLabel("write:assets")).toHaveAccessibleDescription(
    "Upload, update and delete assets. Also grants read:assets.",
  );
  await expect(dialog.getByLabel("admin")).toHaveAccessibleDescription(/Also grants read:assets, write:assets, read:analytics\./);
  // Nothing is chosen for a new key: the standard `read` is not offered here.
  await expect(dialog.getByRole("checkbox", { checked: true })).toHaveCount(0);
  await dialog.getByLabel("Name").fill("Uploader");
  await dialog.getByRole("button", { name: "Create" }).click();
  await expect(dialog.getByText("Choose at least one scope.")).toBeVisible();
  await dialog.getByLabel("write:assets").check();
  await dialog.getByLabel("read:analytics").check();
  // Whom it belongs to, and the platform's own metadata; a JSON mistake is
  // told at its line as it is typed, and nothing is sent meanwhile.
  await dialog.getByText("Owner and metadata").click();
  await dialog.getByLabel("External ID").fill("cust_42");
  const meta = dialog.getByLabel("Metadata");
  await meta.fill('{\n  "plan": "pro",\n  seats: 5\n}');
  await expect(dialog.getByText("Line 3, column 3: key must be a string.")).toBeVisible();
  await meta.fill('{\n  "plan": "pro",\n  "seats": 5\n}');
  await expect(dialog.getByText(/Line \d+, column/)).toHaveCount(0);
  await dialog.getByRole("button", { name: "Create" }).click();

  const created = page.getByRole("dialog", { name: "API key created" });
  const key = await created.getByLabel("Your API key").inputValue();
  await created.getByRole("button", { name: "Done" }).click();
  await created.getByRole("button", { name: "Yes, close" }).click();
  const row = page.getByRole("row", { name: /Uploader/ });
  await expect(row.getByRole("list", { name: "Scopes" }).getByRole("listitem")).toHaveText(["read:analytics", "write:assets"]);
  await expect(row).toContainText("for cust_42");

  const verdict = await request.post("/api/v2/keys/verify", {
    data: { key, required_scopes: ["read:assets", "read:analytics"] },
  });
  const answer = (await verdict.json()).data;
  expect(answer.code).toBe("VALID");
  expect(answer.external_id).toBe("cust_42");
  expect(answer.meta).toEqual({ plan: "pro", seats: 5 });

  // The list finds it by its external id; its page shows and edits both.
  await page.getByRole("searchbox", { name: "Search keys by name or external ID" }).fill("CUST_4");
  await expect(page.getByRole("row", { name: /Uploader/ })).toBeVisible();
  await page.getByRole("link", { name: "Uploader" }).click();
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Uploader", level: 1 })).toBeVisible();
  const owner = page.getByRole("region", { name: "Owner and metadata" });
  await expect(owner.getByLabel("External ID")).toHaveValue("cust_42");
  await expect(owner.getByLabel("Metadata")).toHaveValue('{\n  "plan": "pro",\n  "seats": 5\n}');
  await owner.getByLabel("Metadata").fill('{"plan": "enterprise"');
  await expect(owner.getByText(/^Line 1, column \d+: EOF while parsing an object\.$/)).toBeVisible();
  await owner.getByLabel("Metadata").fill('{"plan": "enterprise"}');
  await owner.getByRole("button", { name: "Save owner and metadata" }).click();
  await expect(owner.getByRole("status")).toHaveText("Saved.");
  await expect(owner.getByLabel("Metadata")).toHaveValue('{\n  "plan": "enterprise"\n}');
  const after = await request.post("/api/v2/keys/verify", { data: { key } });
  expect((await after.json()).data.meta).toEqual({ plan: "enterprise" });

  // The API page lists the same catalogue.
  await openFromMenu(page, "API");
  const scopes = page.getByRole("table", { name: "Scopes keys may hold" });
  await expect(scopes.getByRole("row", { name: /^write:assets / })).toContainText("read:assets");
});
