import { expect, test } from "@playwright/test";
import { signUp, uniqueEmail } from "./helpers";

test("the overview charts the account's verified requests and names its most used key", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByText("No verifications in the last 30 days.")).toBeVisible();
  await expect(page.getByText("No key was used in the last 30 days.")).toBeVisible();

  const created = await page.request.post("/rpc/create_api_key", {
    data: { draft: { name: "Reporting", scopes: ["read"], expires_in_days: 30, ips: [] } },
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(created.ok()).toBeTruthy();
  const { secret } = await created.json();
  for (let i = 0; i < 2; i++) {
    const answer = await page.request.post("/api/v2/keys/verify", { data: { key: secret } });
    expect(answer.ok()).toBeTruthy();
  }

  await expect(async () => {
    await page.reload();
    await expect(page.getByText("2 verifications in the last 30 days: 2 valid, 0 refused.")).toBeVisible({
      timeout: 1_000,
    });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByRole("img", { name: /Verified requests per day, all keys/ })).toBeVisible();
  const mostUsed = page.getByRole("region", { name: "Most used keys" });
  await expect(mostUsed.getByRole("listitem")).toHaveText([/Reporting\s*2 valid, 0 refused/]);
  await expect(page.getByRole("region", { name: "Expiring soonest" }).getByRole("link", { name: "Reporting" })).toBeVisible();
  await mostUsed.getByRole("link", { name: "Reporting" }).click();
  await expect(page.getByRole("heading", { name: "Reporting", level: 1 })).toBeVisible();
});
