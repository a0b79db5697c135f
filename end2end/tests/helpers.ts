import { expect, type Locator, type Page } from "@playwright/test";
import fs from "node:fs";
import path from "node:path";

export const PASSWORD = "correct horse battery staple";

/** A unique address per test, so tests never share an account. */
export function uniqueEmail(): string {
  return `user-${Date.now()}-${Math.random().toString(36).slice(2, 10)}@example.com`;
}

/** Waits until the wasm has taken over the server-rendered page. */
// The tests run the debug build, whose wasm takes a while to load and
// start on a busy two-core CI machine (once more than the 10 s an
// expectation waits): waiting for the page to come alive gets longer.
const HYDRATION_TIMEOUT_MS = 30_000;

export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true", {
    timeout: HYDRATION_TIMEOUT_MS,
  });
}

export async function signUp(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.goto("/signup");
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
}

export async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Invites `email` as `role` from the Members page; the link shown once. */
export async function invite(page: Page, email: string, role: string): Promise<string> {
  await page.getByRole("button", { name: "Invite member" }).click();
  const dialog = page.getByRole("dialog", { name: "Invite member" });
  await dialog.getByLabel("Email").fill(email);
  await dialog.getByLabel("Role").selectOption(role);
  await dialog.getByRole("button", { name: "Create invitation" }).click();
  const created = page.getByRole("dialog", { name: "Invitation created" });
  const link = await created.getByLabel("Invitation link").inputValue();
  expect(link).toMatch(/\/invite\/[0-9a-f]{64}$/);
  await created.getByRole("button", { name: "Done" }).click();
  await created.getByRole("button", { name: "Yes, close" }).click();
  await expect(created).toBeHidden();
  return link;
}

/** Goes to a dashboard page from the menu, and waits until it is that page
 * (each page's heading is its menu name). */
export async function openFromMenu(page: Page, link: string): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link, exact: true }).click();
  await hydrated(page);
  await expect(page.getByRole("heading", { name: link, level: 1 })).toBeVisible();
}

/** Reads the new key from the "API key created" dialog, then closes it. */
export async function takeNewKey(page: Page): Promise<string> {
  const created = page.getByRole("dialog", { name: "API key created" });
  const key = await created.getByLabel("Your API key").inputValue();
  await created.getByRole("button", { name: "Done" }).click();
  await created.getByRole("button", { name: "Yes, close" }).click();
  await expect(created).toBeHidden();
  return key;
}

/** Signs up a new user, opens API Keys and its Create dialog, and names the key. */
export async function startCreatingKey(page: Page, name: string): Promise<Locator> {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await openFromMenu(page, "API Keys");
  await page.getByRole("button", { name: "Create API key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await dialog.getByLabel("Name").fill(name);
  return dialog;
}

/** The messages the run's SMTP server received for `to`, as raw text. */
export function mailTo(to: string): string[] {
  const folder = process.env.KEYSMITH_E2E_MAIL!;
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .filter((name) => name.endsWith(".eml"))
    .sort()
    .map((name) => fs.readFileSync(path.join(folder, name), "utf8"))
    .filter((message) => message.includes(`X-Envelope-To: ${to}\r\n`));
}

/** The link starting with `marker` (`/reset-password?token=`) in the newest
 * message to `to` about `subject`, once `count` of them arrived. */
export async function linkIn(to: string, subject: string, marker: string, count = 1): Promise<string> {
  const about = () =>
    mailTo(to)
      .map((message) => message.replace(/\r\n[ \t]/g, " ").replace(/=\r\n/g, "").replace(/=3D/g, "="))
      .filter((message) => message.includes(`Subject: ${subject}\r\n`));
  await expect.poll(() => about().length, { timeout: 20_000 }).toBeGreaterThanOrEqual(count);
  const message = about().at(-1)!;
  const at = message.indexOf(marker);
  expect(at, message).toBeGreaterThan(-1);
  const start = message.lastIndexOf("http", at);
  return message.slice(start, at + marker.length + 64);
}
