import { expect, test } from "@playwright/test";
import { hydrated, linkIn, PASSWORD, signUp, uniqueEmail } from "./helpers";

// The server that sends mail, through the real SMTP server of the run.
test.use({ baseURL: process.env.KEYSMITH_E2E_MAIL_URL });

const CONFIRM = "Confirm your email address for Keysmith";

test("a new account confirms its address from the emailed link before creating keys", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  const banner = page.getByRole("region", { name: "Address not confirmed" });
  await expect(banner).toContainText(`We sent a link to ${email}`);
  await expect(banner).toContainText("you cannot create API keys");

  await hydrated(page);
  await banner.getByRole("button", { name: "Send the link again" }).click();
  await expect(banner.getByRole("status")).toHaveText("Sent. Check your inbox.");

  // The second message's link; the first one's stopped working.
  const link = await linkIn(email, CONFIRM, "/verify-email?token=", 2);
  await page.goto(link);
  await expect(page.getByRole("status")).toHaveText(`Your email address ${email} is confirmed.`);
  await page.getByRole("link", { name: "Go to the dashboard" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Address not confirmed" })).toHaveCount(0);

  // A used link says so.
  await page.goto(link);
  await expect(page.getByRole("alert")).toContainText("does not work");
});

test("a mistyped address is changed on the Account page and confirmed again", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto("/dashboard/account");
  await hydrated(page);
  const section = page.getByRole("region", { name: "Sign-in address" });
  await expect(section).toContainText(email);
  await expect(section).toContainText("not confirmed yet");

  const corrected = uniqueEmail();
  await section.getByLabel("New address").fill(corrected);
  await section.getByLabel("Your password").fill("not my password");
  await section.getByRole("button", { name: "Change address" }).click();
  await expect(section.locator("#email-change-password-error")).toHaveText("Your current password is not correct.");

  await section.getByLabel("Your password").fill(PASSWORD);
  await section.getByRole("button", { name: "Change address" }).click();
  await expect(section.getByRole("status")).toContainText("Address changed.");

  const link = await linkIn(corrected, CONFIRM, "/verify-email?token=");
  await page.goto(link);
  await expect(page.getByRole("status")).toHaveText(`Your email address ${corrected} is confirmed.`);
});
