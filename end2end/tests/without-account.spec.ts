import { expect, test, type Browser, type Page } from "@playwright/test";
import { hydrated, invite, signIn, signUp, uniqueEmail } from "./helpers";

/**
 * An owner (on `page`, on their Members page) and a member who joined from
 * a browser of their own and was then removed: the member's page is left on
 * the sign-in page.
 */
async function removedMember(page: Page, browser: Browser): Promise<{ owner: string; member: string; other: Page }> {
  const owner = uniqueEmail();
  await signUp(page, owner);
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Members" }).click();
  await hydrated(page);
  const member = uniqueEmail();
  const link = await invite(page, member, "developer");

  const other = await (await browser.newContext()).newPage();
  await other.goto(link);
  await hydrated(other);
  await other.getByLabel("Choose a password").fill("correct horse battery staple");
  await other.getByRole("button", { name: "Create user and join" }).click();
  await expect(other).toHaveURL(/\/dashboard\/api-keys$/);

  await page.reload();
  await hydrated(page);
  const members = page.getByRole("table", { name: "Members, in the order they joined" });
  await members.getByRole("row", { name: new RegExp(member) }).getByRole("button", { name: "Remove" }).click();
  const remove = page.getByRole("dialog", { name: `Remove ${member}?` });
  await remove.getByRole("button", { name: "Remove member" }).click();
  // Hidden first: while the modal dialog is open the table behind it is
  // inert, so it would show no rows before the removal is done.
  await expect(remove).toBeHidden();
  await expect(members.getByRole("row", { name: new RegExp(member) })).toHaveCount(0);

  await other.reload();
  await expect(other).toHaveURL(/\/login/);
  return { owner, member, other };
}

test("a removed member signs in to a page of their own and accepts the invitation waiting for them", async ({
  page,
  browser,
}) => {
  const { owner, member, other } = await removedMember(page, browser);

  await signIn(other, member);
  await expect(other).toHaveURL(/\/welcome$/);
  await hydrated(other);
  await expect(other.getByRole("heading", { name: "You belong to no account" })).toBeVisible();
  await expect(other.getByText(`You are signed in as ${member}`)).toBeVisible();
  await expect(other.getByText("No invitations are waiting for your email.")).toBeVisible();
  await expect(other.getByRole("button", { name: "Create an account of my own" })).toBeVisible();
  // The dashboard is not theirs now.
  await other.goto("/dashboard/api-keys");
  await expect(other).toHaveURL(/\/welcome$/);

  // Invited back, they see the invitation on their page and take it.
  await invite(page, member, "viewer");
  await other.reload();
  await hydrated(other);
  const waiting = other.getByRole("list", { name: "Invitations waiting for you" });
  await expect(waiting.getByRole("listitem")).toHaveCount(1);
  await expect(waiting.getByRole("listitem")).toContainText(owner);
  await expect(waiting.getByRole("listitem")).toContainText("viewer");
  await waiting.getByRole("button", { name: `Accept the invitation to ${owner}` }).click();
  await expect(other).toHaveURL(/\/dashboard\/api-keys$/);
  await hydrated(other);
  await expect(other.locator(".account-role")).toHaveText(`${owner} · viewer`);
  await expect(other.getByRole("button", { name: "Create API key" })).toHaveCount(0);
});

test("a removed member makes an account of their own and owns it", async ({ page, browser }) => {
  const { member, other } = await removedMember(page, browser);

  await signIn(other, member);
  await expect(other).toHaveURL(/\/welcome$/);
  await hydrated(other);
  await other.getByRole("button", { name: "Create an account of my own" }).click();
  await expect(other).toHaveURL(/\/dashboard$/);
  await hydrated(other);
  await expect(other.locator(".account-role")).toHaveText("owner");
  await expect(other.getByRole("link", { name: "Members" })).toBeVisible();
  // Back on the welcome page's address, they are sent to their dashboard.
  await other.goto("/welcome");
  await expect(other).toHaveURL(/\/dashboard$/);
});

test("a removed member accepts a new invitation by its link instead of being told the email is taken", async ({
  page,
  browser,
}) => {
  const { owner, member, other } = await removedMember(page, browser);
  const link = await invite(page, member, "developer");

  await other.goto(link);
  await hydrated(other);
  await other.getByRole("link", { name: "Sign in to accept" }).click();
  await expect(other).toHaveURL(/\/login/);
  await signIn(other, member);
  await expect(other).toHaveURL(/\/invite\/[0-9a-f]{64}$/);
  await hydrated(other);
  await expect(other.getByLabel("Choose a password")).toHaveCount(0);
  await other.getByRole("button", { name: "Accept invitation" }).click();
  await expect(other).toHaveURL(/\/dashboard\/api-keys$/);
  await hydrated(other);
  await expect(other.locator(".account-role")).toHaveText(`${owner} · developer`);
});

test("signing out of the welcome page ends the session", async ({ page, browser }) => {
  const { member, other } = await removedMember(page, browser);
  await signIn(other, member);
  await expect(other).toHaveURL(/\/welcome$/);
  await hydrated(other);
  await other.getByRole("button", { name: "Sign out" }).click();
  await expect(other).toHaveURL(/\/login/);
  await other.goto("/welcome");
  await expect(other).toHaveURL(/\/login\?next=/);
});
