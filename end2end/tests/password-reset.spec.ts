import { expect, test } from "@playwright/test";
import { hydrated, linkIn, mailTo, PASSWORD, signIn, signUp, uniqueEmail } from "./helpers";

// The server that sends mail, through the real SMTP server of the run.
test.use({ baseURL: process.env.KEYSMITH_E2E_MAIL_URL });

test("forgot password: the emailed link sets a new password and signs in", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  await hydrated(page);
  await page.getByRole("link", { name: "Forgot password?" }).click();
  await expect(page).toHaveURL(/\/forgot-password$/);
  await expect(page.getByRole("heading", { name: "Reset your password" })).toBeVisible();
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Send reset link" }).click();
  await expect(page.getByRole("status")).toHaveText(/If an account exists for this email, we sent a link/);

  const link = await linkIn(email, "Reset your Keysmith password", "/reset-password?token=");
  await page.goto(link);
  await expect(page.getByRole("heading", { name: "Choose a new password" })).toBeVisible();
  await expect(page.getByText(email)).toBeVisible();
  await hydrated(page);
  await page.getByLabel("New password").fill("short");
  await page.getByRole("button", { name: "Set new password" }).click();
  await expect(page.locator("#field-password-error")).not.toBeEmpty();

  await page.getByLabel("New password").fill("a brand new passphrase for keysmith");
  await page.getByRole("button", { name: "Set new password" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole("navigation", { name: "Main" }).getByText(email)).toBeVisible();

  // The link worked once.
  await page.goto(link);
  await expect(page.getByRole("alert")).toContainText("does not work");
  await expect(page.getByRole("link", { name: "Ask for a new link" })).toBeVisible();

  // The old password no longer signs in; the new one does.
  await page.context().clearCookies();
  await page.goto("/login");
  await signIn(page, email, PASSWORD);
  await expect(page.getByRole("alert")).toHaveText("Incorrect email or password.");
  await page.goto("/login");
  await signIn(page, email, "a brand new passphrase for keysmith");
  await expect(page).toHaveURL(/\/dashboard$/);
});

test("an unknown address is told the same, and nothing is sent", async ({ page }) => {
  const email = uniqueEmail();
  await page.goto("/forgot-password");
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Send reset link" }).click();
  await expect(page.getByRole("status")).toHaveText(/If an account exists for this email, we sent a link/);
  await page.waitForTimeout(1_000);
  expect(mailTo(email)).toHaveLength(0);
});
