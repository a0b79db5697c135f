import { expect, test } from "@playwright/test";
import { startCreatingKey, takeNewKey } from "./helpers";

test("a key made with 2 credits admits 2 of 5 verifications; its page shows 3 usage-exceeded, 0 left, and takes a refund with a reason", async ({
  page,
  request,
}) => {
  const dialog = await startCreatingKey(page, "Metered");
  await dialog.getByLabel("Credits", { exact: true }).fill("2");
  await dialog.getByRole("button", { name: "Create" }).click();
  const key = await takeNewKey(page);

  const codes: string[] = [];
  for (let i = 0; i < 5; i++) {
    const answer = await request.post("/api/v2/keys/verify", { data: { key } });
    expect(answer.ok()).toBeTruthy();
    codes.push((await answer.json()).data.code);
  }
  expect(codes).toEqual(["VALID", "VALID", "USAGE_EXCEEDED", "USAGE_EXCEEDED", "USAGE_EXCEEDED"]);

  await page.getByRole("row", { name: /Metered/ }).getByRole("link", { name: "Metered" }).click();
  await expect(page.getByRole("heading", { name: "Metered", level: 1 })).toBeVisible();
  const credits = page.getByRole("region", { name: "Credits" });
  await expect(credits.getByRole("definition").first()).toHaveText("0");
  const summary = "5 verifications in the last 30 days: 2 valid, 3 refused.";
  await expect(async () => {
    await page.reload();
    await expect(page.getByText(summary)).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByText("2 credits spent in the last 30 days.")).toBeVisible();
  await page.getByRole("region", { name: "Requests, last 30 days" }).getByText("Show the numbers").click();
  const table = page.getByRole("table", { name: "Requests per day, last 30 days" });
  await expect(table.getByRole("row").nth(1).getByRole("cell")).toHaveText(["2", "0", "0", "0", "0", "0", "3"]);

  const form = page.getByRole("region", { name: "Credits" });
  await form.getByLabel("Credits to add (negative to remove)").fill("-1");
  await form.getByLabel("Reason").fill("correction");
  await form.getByRole("button", { name: "Apply" }).click();
  await expect(form.getByText("The key holds 0 credits now: at most that many can be taken.")).toBeVisible();
  await form.getByLabel("Credits to add (negative to remove)").fill("10");
  await form.getByLabel("Reason").fill("refund");
  await form.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByRole("region", { name: "Credits" }).getByRole("definition").first()).toHaveText("10");
  const answer = await request.post("/api/v2/keys/verify", { data: { key } });
  expect((await answer.json()).data).toMatchObject({ code: "VALID", credits: { remaining: 9 } });
  await expect(page.getByRole("region", { name: "Audit events" }).getByText("Credits changed")).toBeVisible();
});
