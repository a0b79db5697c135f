import { expect, test } from "@playwright/test";
import { hydrated, signUp, takeNewKey, uniqueEmail } from "./helpers";

test("a key's page shows its settings, a 30-day usage chart and its events", async ({ page, request }) => {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API Keys" }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "Create API key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await dialog.getByLabel("Name").fill("Charted");
  await dialog.getByRole("button", { name: "Create" }).click();
  const key = await takeNewKey(page);

  // A service checks the key: three valid uses and one with too small a scope.
  for (const scope of ["read", "read", "read", "admin"]) {
    const answer = await request.post("/api/v2/keys/verify", { data: { key, required_scope: scope } });
    expect(answer.ok()).toBeTruthy();
  }

  await page.getByRole("row", { name: /Charted/ }).getByRole("link", { name: "Charted" }).click();
  await expect(page).toHaveURL(/\/dashboard\/api-keys\/key_[0-9a-f]+$/);
  await expect(page.getByRole("heading", { name: "Charted", level: 1 })).toBeVisible();
  const settings = page.getByRole("definition");
  await expect(settings.filter({ hasText: `${key.slice(0, 14)}…${key.slice(-4)}` })).toBeVisible();
  await expect(page.getByText(key)).toHaveCount(0);

  // Usage is written once a second: reload until the page has it.
  const summary = "4 verifications in the last 30 days: 3 valid, 1 refused.";
  await expect(async () => {
    await page.reload();
    await expect(page.getByText(summary)).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  const chart = page.getByRole("img", { name: /Requests per day, last 30 days/ });
  await expect(chart).toBeVisible();
  await expect(chart.locator("g.chart-day")).toHaveCount(30);

  await page.getByText("Show the numbers").click();
  const today = page.getByRole("table", { name: "Requests per day, last 30 days" }).getByRole("row").nth(1);
  await expect(today.getByRole("cell")).toHaveText(["3", "0", "0", "1", "0", "0", "0"]);
  await expect(page.getByRole("region", { name: "Audit events" }).getByText("Key created")).toBeVisible();
});

test("an unknown key's page says so", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto("/dashboard/api-keys/key_0000000000000000000000000000dead");
  await expect(page.getByRole("heading", { name: "Key not found" })).toBeVisible();
  await expect(page.getByRole("alert")).toHaveText("Not found.");
});
