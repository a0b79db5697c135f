import { expect, test } from "@playwright/test";
import { hydrated, openFromMenu, signUp, startCreatingKey, takeNewKey, uniqueEmail } from "./helpers";

test("a key made with a limit of 3 per minute admits 3 of 5 verifications, and its page counts the 2 refused", async ({
  page,
  request,
}) => {
  const dialog = await startCreatingKey(page, "Limited");
  await dialog.getByRole("button", { name: "Add rate limit" }).click();
  const limit = dialog.getByRole("group", { name: "Rate limit 1" });
  await expect(limit.getByLabel("Counter")).toHaveValue("requests");
  await limit.getByLabel("Limit").fill("3");
  await limit.getByLabel("Window").selectOption({ label: "per minute" });
  await dialog.getByRole("button", { name: "Create" }).click();
  const key = await takeNewKey(page);
  const row = page.getByRole("row", { name: /Limited/ });
  await expect(row.getByText("requests: 3 per minute")).toBeVisible();

  const codes: string[] = [];
  for (let i = 0; i < 5; i++) {
    const answer = await request.post("/api/v2/keys/verify", { data: { key } });
    expect(answer.ok()).toBeTruthy();
    const { data } = await answer.json();
    codes.push(data.code);
  }
  expect(codes).toEqual(["VALID", "VALID", "VALID", "RATE_LIMITED", "RATE_LIMITED"]);

  await row.getByRole("link", { name: "Limited" }).click();
  await expect(page.getByRole("heading", { name: "Limited", level: 1 })).toBeVisible();
  await expect(page.getByRole("definition").filter({ hasText: "requests: 3 per minute" })).toBeVisible();
  const summary = "5 verifications in the last 30 days: 3 valid, 2 refused.";
  await expect(async () => {
    await page.reload();
    await expect(page.getByText(summary)).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await page.getByText("Show the numbers").click();
  const table = page.getByRole("table", { name: "Requests per day, last 30 days" });
  await expect(table.getByRole("columnheader", { name: "Rate limited" })).toBeVisible();
  await expect(table.getByRole("row").nth(1).getByRole("cell")).toHaveText(["3", "0", "0", "0", "0", "2", "0"]);
});

test("an owner sets the account's rate limits, which a bad limit does not change", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await openFromMenu(page, "Account");
  await hydrated(page);
  const section = page.getByRole("region", { name: "Rate limits" });
  await section.getByRole("button", { name: "Add rate limit" }).click();
  const limit = section.getByRole("group", { name: "Rate limit 1" });
  await limit.getByLabel("Limit").fill("0");
  await section.getByRole("button", { name: "Save rate limits" }).click();
  await expect(section.getByText(/Limit 1 \(“requests”\): the limit must be a whole number/)).toBeVisible();

  // A second limit replaces the bad one, and moves up to be the first.
  await section.getByRole("button", { name: "Add rate limit" }).click();
  await section.getByRole("group", { name: "Rate limit 2" }).getByLabel("Counter").fill("searches");
  await section.getByRole("button", { name: "Remove rate limit 1" }).click();
  await expect(limit.getByLabel("Counter")).toHaveValue("searches");
  await limit.getByLabel("Limit").fill("1000");
  await limit.getByLabel("Window").selectOption({ label: "per hour" });
  await section.getByRole("button", { name: "Save rate limits" }).click();
  await expect(section.getByRole("status")).toHaveText("Rate limits saved.");
  await page.reload();
  const saved = page.getByRole("region", { name: "Rate limits" }).getByRole("group", { name: "Rate limit 1" });
  await expect(saved.getByLabel("Counter")).toHaveValue("searches");
  await expect(saved.getByLabel("Limit")).toHaveValue("1000");
  await expect(saved.getByLabel("Window")).toHaveValue("3600");

  await page.getByRole("region", { name: "Rate limits" }).getByRole("button", { name: /Remove/ }).click();
  await page.getByRole("region", { name: "Rate limits" }).getByRole("button", { name: "Save rate limits" }).click();
  await expect(page.getByRole("region", { name: "Rate limits" }).getByRole("status")).toHaveText("Rate limits saved.");
  await page.reload();
  await expect(page.getByRole("region", { name: "Rate limits" }).getByRole("group", { name: "Rate limit 1" })).toHaveCount(0);
});
