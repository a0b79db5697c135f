import { expect, test, type Page } from "@playwright/test";
import crypto from "node:crypto";
import { hydrated, invite, openFromMenu, signIn, signUp, uniqueEmail } from "./helpers";

/** What an authenticator app shows: RFC 6238, SHA-1, six digits. */
function totp(base32Secret: string, step = Math.floor(Date.now() / 30_000)): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32Secret.replace(/\s/g, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g)!.map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = crypto.createHmac("sha1", key).update(counter).digest();
  const offset = digest[19] & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}

async function signOut(page: Page): Promise<void> {
  await hydrated(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
}

/** Sets up two-factor sign-in on the Account page: the app's secret and
 * the recovery codes. */
async function enrol(page: Page): Promise<{ secret: string; codes: string[] }> {
  await page.goto("/dashboard/account");
  await hydrated(page);
  const section = page.getByRole("region", { name: "Two-factor sign-in" });
  await section.getByRole("button", { name: "Set up two-factor sign-in" }).click();
  const secret = (await section.locator("code.totp-secret").textContent())!;
  await section.getByLabel("Code from the app").fill(totp(secret));
  await section.getByRole("button", { name: "Turn on" }).click();
  const codes = await section.getByRole("list", { name: "Recovery codes" }).getByRole("listitem").allTextContents();
  await section.getByRole("button", { name: "I saved them" }).click();
  await expect(section).toContainText("10 recovery codes left.");
  // A change of second factor offers to end the sessions from before it.
  await expect(section.getByRole("button", { name: "End my other sessions" })).toBeVisible();
  return { secret, codes };
}

test("an owner requires two-factor sign-in and a new member is sent to set it up", async ({ page, browser }) => {
  const owner = uniqueEmail();
  await signUp(page, owner);
  await expect(page).toHaveURL(/\/dashboard$/);
  await enrol(page);
  const requirement = page.getByRole("region", { name: "A second factor for every member" });
  await requirement.getByRole("button", { name: "Require two-factor sign-in for every member" }).click();
  await expect(requirement).toContainText("Required: every member signs in with a second factor");

  await openFromMenu(page, "Members");
  const invitee = uniqueEmail();
  const link = await invite(page, invitee, "developer");

  const other = await (await browser.newContext()).newPage();
  await other.goto(link);
  await hydrated(other);
  await other.getByLabel("Choose a password").fill("a new and long password");
  await other.getByRole("button", { name: "Create user and join" }).click();
  await expect(other).toHaveURL(/\/dashboard\/account/);
  await expect(other.getByText("The owner of this account requires two-factor sign-in.")).toBeVisible();

  // No other page of the account is theirs until then.
  await other.goto("/dashboard/api-keys");
  await expect(other).toHaveURL(/\/dashboard\/account\?two-factor=required$/);

  await enrol(other);
  await openFromMenu(other, "API Keys");
  await expect(other).toHaveURL(/\/dashboard\/api-keys$/);
});

test("two-factor sign-in: enrol with the shown secret, then sign in with a code and with a recovery code", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto("/dashboard/account");
  await hydrated(page);
  const section = page.getByRole("region", { name: "Two-factor sign-in" });
  await section.getByRole("button", { name: "Set up two-factor sign-in" }).click();
  await expect(section.getByRole("img", { name: "QR code for your authenticator app" })).toBeVisible();
  const secret = (await section.locator("code.totp-secret").textContent())!;

  await section.getByLabel("Code from the app").fill("000000" === totp(secret) ? "111111" : "000000");
  await section.getByRole("button", { name: "Turn on" }).click();
  await expect(section.locator("#two-factor-on-code-error")).toContainText("does not match");
  await section.getByLabel("Code from the app").fill(totp(secret));
  await section.getByRole("button", { name: "Turn on" }).click();
  await expect(section.getByRole("status")).toHaveText("Two-factor sign-in is on.");
  const codes = await section.getByRole("list", { name: "Recovery codes" }).getByRole("listitem").allTextContents();
  expect(codes).toHaveLength(10);
  await expect(section.getByRole("link", { name: "Download recovery codes" })).toHaveAttribute(
    "download",
    "keysmith-recovery-codes.txt",
  );
  await section.getByRole("button", { name: "I saved them" }).click();
  await expect(section).toContainText("10 recovery codes left.");

  // Signing in now asks for a code: the app's next one works.
  await signOut(page);
  await signIn(page, email);
  await expect(page.getByRole("alert")).toContainText("Enter the code from your authenticator app");
  await page.getByLabel("Authentication code").fill(totp(secret, Math.floor(Date.now() / 30_000) + 1));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);

  // And a recovery code, once.
  await signOut(page);
  await signIn(page, email);
  await expect(page.getByLabel("Authentication code")).toBeVisible();
  await page.getByLabel("Authentication code").fill(codes[0]);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto("/dashboard/account");
  await expect(page.getByRole("region", { name: "Two-factor sign-in" })).toContainText("9 recovery codes left.");
});
