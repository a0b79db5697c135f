import { expect, test } from "@playwright/test";
import fs from "node:fs";
import path from "node:path";
import { hydrated, PASSWORD, signIn, signUp, uniqueEmail } from "./helpers";

/** The messages the SMTP server received for `to`, as raw text. */
function mailTo(to: string): string[] {
  const folder = process.env.KEYSMITH_E2E_MAIL!;
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .filter((name) => name.endsWith(".eml"))
    .sort()
    .map((name) => fs.readFileSync(path.join(folder, name), "utf8"))
    .filter((message) => message.includes(`X-Envelope-To: ${to}\r\n`));
}

/** The reset link of the newest message to `to`, once it arrived. */
async function resetLink(to: string): Promise<string> {
  await expect.poll(() => mailTo(to).length, { timeout: 20_000 }).toBeGreaterThan(0);
  const message = mailTo(to).at(-1)!.replace(/=\r\n/g, "").replace(/=3D/g, "=");
  const link = message.match(/http:\/\/[^\s"<]+\/reset-password\?token=[0-9a-f]{64}/);
  expect(link, message).not.toBeNull();
  return link![0];
}

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

  const link = await resetLink(email);
  expect(mailTo(email).at(-1)).toContain("Subject: Reset your Keysmith password");
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
