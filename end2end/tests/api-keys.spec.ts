import { expect, test, type Page } from "@playwright/test";
import { hydrated, signUp, uniqueEmail } from "./helpers";

async function openApiKeys(page: Page): Promise<void> {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API Keys" }).click();
  await expect(page.getByRole("heading", { name: "API Keys", exact: true })).toBeVisible();
  await hydrated(page);
}

test("create, copy, edit, rotate, revoke and delete a key, each step in the audit log", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await openApiKeys(page);
  await expect(page.getByRole("heading", { name: "No API keys yet" })).toBeVisible();

  await page.getByRole("button", { name: "Create API key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel("Name")).toBeFocused();
  await expect(dialog.getByLabel("Expiration")).toHaveValue("90");
  await dialog.getByLabel("Name").fill("Billing sync");
  await dialog.getByLabel("write").check();
  await dialog.getByRole("button", { name: "Create" }).click();

  const created = page.getByRole("dialog", { name: "API key created" });
  await expect(created).toBeVisible();
  await expect(created.getByText("will not be shown again")).toBeVisible();
  const key = await created.getByLabel("Your API key").inputValue();
  expect(key).toMatch(/^ks_live_[0-9A-Za-z]{38}$/);
  await created.getByRole("button", { name: "Copy" }).click();
  await expect(created.getByRole("button", { name: "Copied" })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
  await created.getByRole("button", { name: "Done" }).click();
  await expect(created).toBeHidden();

  const masked = `${key.slice(0, 14)}…${key.slice(-4)}`;
  const row = page.getByRole("row", { name: /Billing sync/ });
  await expect(row).toContainText(masked);
  await expect(row).toContainText("read");
  await expect(row).toContainText("write");
  await expect(row).toContainText("Active");

  await page.reload();
  await hydrated(page);
  await expect(page.getByRole("row", { name: /Billing sync/ })).toContainText(masked);
  expect(await page.content()).not.toContain(key.slice(14, 42));

  await page.getByRole("row", { name: /Billing sync/ }).getByRole("button", { name: "Edit" }).click();
  const edit = page.getByRole("dialog", { name: "Edit Billing sync" });
  await edit.getByLabel("Name").fill("Billing sync v2");
  await edit.getByRole("button", { name: "Save changes" }).click();
  await expect(edit).toBeHidden();
  const renamed = page.getByRole("row", { name: /Billing sync v2/ });
  await expect(renamed).toBeVisible();

  await renamed.getByRole("button", { name: "Rotate" }).click();
  const rotate = page.getByRole("dialog", { name: "Rotate Billing sync v2?" });
  await rotate.getByLabel("The old secret should").selectOption({ label: "Keep working for 1 hour" });
  await rotate.getByRole("button", { name: "Rotate key" }).click();
  const rotated = page.getByRole("dialog", { name: "API key rotated" });
  const newKey = await rotated.getByLabel("Your API key").inputValue();
  expect(newKey).toMatch(/^ks_live_/);
  expect(newKey).not.toBe(key);
  await page.keyboard.press("Escape");
  await expect(rotated.getByText("Have you saved this key?")).toBeVisible();
  await rotated.getByRole("button", { name: "Yes, close" }).click();
  await expect(rotated).toBeHidden();
  await expect(renamed).toContainText(`${newKey.slice(0, 14)}…${newKey.slice(-4)}`);
  await expect(renamed).toContainText("Old secret expires");

  await renamed.getByRole("button", { name: "Revoke" }).click();
  const revoke = page.getByRole("dialog", { name: "Revoke Billing sync v2?" });
  await expect(revoke).toContainText("cannot be undone");
  await revoke.getByRole("button", { name: "Revoke key" }).click();
  await expect(revoke).toBeHidden();
  await expect(renamed).toContainText("Revoked");

  await renamed.getByRole("button", { name: "Delete" }).click();
  const del = page.getByRole("dialog", { name: "Delete Billing sync v2?" });
  const confirm = del.getByRole("button", { name: "Delete key" });
  await expect(confirm).toBeDisabled();
  await del.getByLabel("Type Billing sync v2 to confirm").fill("Billing sync v2");
  await confirm.click();
  await expect(del).toBeHidden();
  await expect(page.getByRole("row", { name: /Billing sync/ })).toHaveCount(0);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
  await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
  const events = page.getByRole("row").filter({ has: page.getByRole("cell") });
  const actions = ["Key deleted", "Key revoked", "Key rotated", "Key updated", "Key created", "Signed up"];
  await expect(events).toHaveCount(actions.length);
  for (const [i, action] of actions.entries()) {
    // The second column is the action.
    await expect(events.nth(i).getByRole("cell").nth(1)).toHaveText(action);
  }
  expect(await page.content()).not.toContain(key.slice(14, 42));
  expect(await page.content()).not.toContain(newKey.slice(14, 42));

  // Filtering by key keeps only that key's events, and survives a reload.
  await page.getByRole("link", { name: "Billing sync v2" }).first().click();
  await expect(page).toHaveURL(/\/dashboard\/audit-log\?key=key_/);
  await expect(events).toHaveCount(5);
  await page.reload();
  await expect(events).toHaveCount(5);
});

test("dialogs are keyboard-operable and the one-time secret is hard to lose", async ({ page }) => {
  await openApiKeys(page);
  const open = page.getByRole("button", { name: "Create API key" });
  await open.click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await expect(dialog).toHaveAttribute("aria-modal", "true");
  // The page behind is hidden from assistive technology while it is open.
  await expect(page.getByRole("button", { name: "Create API key" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Create", exact: true })).toHaveCount(1);
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await expect(open).toBeFocused();

  await open.click();
  for (let i = 0; i < 12; i++) await page.keyboard.press("Tab");
  expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(dialog).toBeHidden();
  await expect(open).toBeFocused();

  // A failed create keeps what was typed and says what is wrong, by the field.
  await open.click();
  await dialog.getByLabel("Name").fill("Has bad addresses");
  await dialog.getByLabel("IP allowlist").fill("10.0.0.1\nnot-an-ip");
  await dialog.getByRole("button", { name: "Create" }).click();
  await expect(dialog.getByText('"not-an-ip" is not an IP address or CIDR range.')).toBeVisible();
  await expect(dialog.getByLabel("Name")).toHaveValue("Has bad addresses");
  await dialog.getByLabel("read").uncheck();
  await dialog.getByLabel("IP allowlist").fill("10.0.0.0/8");
  await dialog.getByRole("button", { name: "Create" }).click();
  await expect(dialog.getByText("Choose at least one scope.")).toBeVisible();
  await dialog.getByLabel("search").check();
  await dialog.getByLabel("Expiration").selectOption("never");
  await dialog.getByRole("button", { name: "Create" }).click();

  const created = page.getByRole("dialog", { name: "API key created" });
  await expect(created).toBeVisible();
  // A click outside does not close it; neither does Done before copying.
  await page.mouse.click(5, 5);
  await expect(created).toBeVisible();
  await created.getByRole("button", { name: "Done" }).click();
  await expect(created.getByText("Have you saved this key?")).toBeVisible();
  await created.getByRole("button", { name: "Go back" }).click();
  const secret = await created.getByLabel("Your API key").inputValue();
  await created.getByRole("button", { name: "Done" }).click();
  await created.getByRole("button", { name: "Yes, close" }).click();
  await expect(created).toBeHidden();
  const row = page.getByRole("row", { name: /Has bad addresses/ });
  await expect(row).toContainText("Never");
  await expect(row).toContainText("search");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Overview" }).click();
  // Each figure is the definition after its term.
  const stat = async (label: string) => {
    await expect(page.getByRole("term").filter({ hasText: label })).toBeVisible();
    const terms = await page.getByRole("term").allTextContents();
    return page.getByRole("definition").nth(terms.indexOf(label));
  };
  await expect(await stat("Active keys")).toHaveText("1");
  await expect(await stat("Expiring within 14 days")).toHaveText("0");

  // Two uses of the key show on the Overview once written (every second).
  for (let i = 0; i < 2; i++) {
    const verified = await page.request.post("/api/v2/keys/verify", { data: { key: secret, client_ip: "10.1.2.3" } });
    expect((await verified.json()).data.code).toBe("VALID");
  }
  await expect(async () => {
    await page.reload();
    await expect(await stat("Used in the last 24 hours")).toHaveText("1", { timeout: 500 });
    await expect(await stat("Requests today (UTC)")).toHaveText("2", { timeout: 500 });
  }).toPass({ timeout: 10_000 });
});
