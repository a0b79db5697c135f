import { expect, test, type Page } from "@playwright/test";
import { hydrated, PASSWORD, signIn, signUp, uniqueEmail } from "./helpers";

// WebAuthn binds a passkey to a domain name, never an IP address: these
// pages are opened at localhost.
const port = Number(process.env.KEYSMITH_E2E_PORT ?? 3300);
test.use({ baseURL: `http://localhost:${port}` });

/** Chromium's virtual authenticator, standing in for this device's
 * fingerprint reader: it holds discoverable passkeys and verifies the user. */
async function virtualAuthenticator(page: Page): Promise<() => Promise<void>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });
  return async () => {
    await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
  };
}

async function signOut(page: Page): Promise<void> {
  await hydrated(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
}

/** Adds a passkey named `name` on the Account page, with the password. */
async function addPasskey(page: Page, name: string, password = PASSWORD): Promise<void> {
  await page.goto("/dashboard/account");
  await hydrated(page);
  const section = page.getByRole("region", { name: "Passkeys" });
  await section.getByLabel("Passkey name").fill(name);
  await section.getByLabel("Your password").fill(password);
  await section.getByRole("button", { name: "Add a passkey" }).click();
}

test("a passkey is added, signs in without a password, stands in as the second factor, and is removed", async ({ page }) => {
  await virtualAuthenticator(page);
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);

  await addPasskey(page, "Test laptop");
  const section = page.getByRole("region", { name: "Passkeys" });
  // The first second factor comes with recovery codes, shown once.
  await expect(section.getByRole("list", { name: "Recovery codes" }).getByRole("listitem")).toHaveCount(10);
  await section.getByRole("button", { name: "I saved them" }).click();
  await expect(section.getByRole("table", { name: "Registered devices" })).toContainText("Test laptop");
  await expect(page.getByRole("region", { name: "Two-factor sign-in" })).toContainText("On with your passkeys");

  // Without a password.
  await signOut(page);
  await hydrated(page);
  await page.getByRole("button", { name: "Use a passkey" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);

  // After the password, as its second factor.
  await signOut(page);
  await signIn(page, email);
  await expect(page.getByLabel("Authentication code")).toBeVisible();
  await page.getByRole("button", { name: "Use a passkey instead" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);

  await page.goto("/dashboard/account");
  await hydrated(page);
  const table = section.getByRole("table", { name: "Registered devices" });
  await expect(table).not.toContainText("Never");
  await section.getByRole("button", { name: "Remove Test laptop" }).click();
  await section.getByLabel("Your password").fill("not the password at all");
  await section.getByRole("button", { name: "Remove passkey" }).click();
  await expect(section).toContainText("Your current password is not correct.");
  await section.getByLabel("Your password").fill(PASSWORD);
  await section.getByRole("button", { name: "Remove passkey" }).click();
  await expect(section).toContainText("No passkeys yet.");

  // Two-factor sign-in is off again: the password alone signs in.
  await signOut(page);
  await signIn(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
});

test("several passkeys are listed by name, and a passkey needs a name", async ({ page }) => {
  const putAway = await virtualAuthenticator(page);
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await addPasskey(page, "   ");
  const section = page.getByRole("region", { name: "Passkeys" });
  await expect(section).toContainText("Name this passkey");
  await section.getByLabel("Passkey name").fill("Laptop");
  await section.getByLabel("Your password").fill("not the password at all");
  await section.getByRole("button", { name: "Add a passkey" }).click();
  await expect(section).toContainText("Your current password is not correct.");
  await section.getByLabel("Your password").fill(PASSWORD);
  await section.getByRole("button", { name: "Add a passkey" }).click();
  await section.getByRole("button", { name: "I saved them" }).click();

  // Another authenticator (a phone) in place of the first.
  await putAway();
  await virtualAuthenticator(page);
  await section.getByLabel("Passkey name").fill("Phone");
  await section.getByLabel("Your password").fill(PASSWORD);
  await section.getByRole("button", { name: "Add a passkey" }).click();
  const rows = section.getByRole("table", { name: "Registered devices" }).getByRole("row");
  await expect(rows).toHaveCount(3);
  await expect(rows.nth(1)).toContainText("Laptop");
  await expect(rows.nth(2)).toContainText("Phone");
});

test.describe("on an IP address", () => {
  test.use({ baseURL: `http://127.0.0.1:${port}` });

  test("adding a passkey says it needs the server's name", async ({ page }) => {
    await virtualAuthenticator(page);
    await signUp(page, uniqueEmail());
    await expect(page).toHaveURL(/\/dashboard$/);
    await addPasskey(page, "Laptop");
    await expect(page.getByRole("region", { name: "Passkeys" })).toContainText("not an IP address");
  });
});

test("adding a passkey offers to end the sessions signed in before it", async ({ page, browser }) => {
  await virtualAuthenticator(page);
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  // Signed in elsewhere before the change.
  const elsewhere = await (await browser.newContext({ baseURL: `http://localhost:${port}` })).newPage();
  await elsewhere.goto("/login");
  await signIn(elsewhere, email);
  await expect(elsewhere).toHaveURL(/\/dashboard$/);

  await addPasskey(page, "Laptop");
  const section = page.getByRole("region", { name: "Passkeys" });
  await section.getByRole("button", { name: "I saved them" }).click();
  await section.getByRole("button", { name: "End my other sessions" }).click();
  await expect(section.getByRole("status")).toContainText("Your other sessions and bearer tokens have ended");
  const sessions = page.getByRole("region", { name: "Where you are signed in" });
  await expect(sessions.getByRole("button", { name: /^Sign out / })).toHaveCount(0);

  await elsewhere.goto("/dashboard/account");
  await expect(elsewhere).toHaveURL(/\/login/);
  // This browser carries on.
  await page.goto("/dashboard/account");
  await expect(page).toHaveURL(/\/dashboard\/account$/);
});
