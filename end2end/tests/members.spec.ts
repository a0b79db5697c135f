import { expect, test, type Page } from "@playwright/test";
import { hydrated, invite, signIn, signUp, uniqueEmail } from "./helpers";

async function openMembers(page: Page): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Members" }).click();
  await expect(page).toHaveURL(/\/dashboard\/members$/);
  await hydrated(page);
}

test("an owner invites a viewer, who joins from another browser and sees the keys but cannot change them", async ({
  page,
  browser,
}) => {
  const owner = uniqueEmail();
  await signUp(page, owner);
  await expect(page).toHaveURL(/\/dashboard$/);

  // A key for the team to see.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API Keys" }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "Create API key" }).click();
  const create = page.getByRole("dialog", { name: "Create API key" });
  await create.getByLabel("Name").fill("Shared key");
  await create.getByRole("button", { name: "Create" }).click();
  const created = page.getByRole("dialog", { name: "API key created" });
  await created.getByRole("button", { name: "Done" }).click();
  await created.getByRole("button", { name: "Yes, close" }).click();

  await openMembers(page);
  const invitee = uniqueEmail();
  const link = await invite(page, invitee, "viewer");
  const pending = page.getByRole("table", { name: "Pending invitations, newest first" });
  await expect(pending.getByRole("row", { name: new RegExp(invitee) })).toContainText("viewer");
  await expect(page.getByText(link)).toHaveCount(0);

  // The invitee opens the link in a browser of their own and signs up there.
  const theirs = await browser.newContext();
  const other = await theirs.newPage();
  await other.goto(link);
  await hydrated(other);
  await expect(other.getByRole("heading", { name: `Join ${owner}` })).toBeVisible();
  await expect(other.getByLabel("Email")).toHaveValue(invitee);
  await other.getByLabel("Choose a password").fill("a new and long password");
  await other.getByRole("button", { name: "Create user and join" }).click();
  await expect(other).toHaveURL(/\/dashboard\/api-keys$/);
  await hydrated(other);
  await expect(other.getByRole("row", { name: /Shared key/ })).toBeVisible();
  await expect(other.getByText("Your role in this account is viewer")).toBeVisible();
  await expect(other.getByRole("button", { name: "Create API key" })).toHaveCount(0);
  await expect(other.getByRole("button", { name: "Delete" })).toHaveCount(0);
  await expect(other.getByRole("link", { name: "Members" })).toHaveCount(0);

  // Their audit log shows the key's creation, not who joined or from where.
  await other.getByRole("link", { name: "Audit log" }).click();
  await hydrated(other);
  await expect(other.getByText("you see key events, without client addresses and browsers")).toBeVisible();
  await expect(other.getByRole("cell", { name: "Key created", exact: true }).first()).toBeVisible();
  await expect(other.getByRole("cell", { name: "Member joined", exact: true })).toHaveCount(0);
  await expect(other.getByRole("cell", { name: "Signed in", exact: true })).toHaveCount(0);

  // The link is spent.
  const again = await (await browser.newContext()).newPage();
  await again.goto(link);
  await expect(again.getByRole("heading", { name: "This invitation has been used already." })).toBeVisible();

  // The owner sees the new member, makes them a developer, then removes them.
  await page.reload();
  await hydrated(page);
  const members = page.getByRole("table", { name: "Members, in the order they joined" });
  const row = members.getByRole("row", { name: new RegExp(invitee) });
  await expect(row).toContainText("viewer");
  await expect(page.getByText("No pending invitations.")).toBeVisible();
  await row.getByRole("button", { name: "Change role" }).click();
  const change = page.getByRole("dialog", { name: `Change the role of ${invitee}` });
  await change.getByLabel("Role").selectOption("developer");
  await change.getByRole("button", { name: "Change role" }).click();
  await expect(change).toBeHidden();
  await expect(row).toContainText("developer");

  // Their session for the account ended with the new role.
  await other.reload();
  await expect(other).toHaveURL(/\/login/);

  await row.getByRole("button", { name: "Remove" }).click();
  const remove = page.getByRole("dialog", { name: `Remove ${invitee}?` });
  await remove.getByRole("button", { name: "Remove member" }).click();
  await expect(remove).toBeHidden();
  await expect(members.getByRole("row", { name: new RegExp(invitee) })).toHaveCount(0);

  await page.getByRole("link", { name: "Audit log" }).click();
  await hydrated(page);
  for (const action of ["Member invited", "Member joined", "Role changed", "Member removed"]) {
    await expect(page.getByRole("cell", { name: action, exact: true }).first()).toBeVisible();
  }
  await theirs.close();
});

test("a revoked invitation's link says so", async ({ page, browser }) => {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await openMembers(page);
  const invitee = uniqueEmail();
  const link = await invite(page, invitee, "developer");
  const pending = page.getByRole("table", { name: "Pending invitations, newest first" });
  await pending.getByRole("row", { name: new RegExp(invitee) }).getByRole("button", { name: "Revoke" }).click();
  const dialog = page.getByRole("dialog", { name: `Revoke the invitation for ${invitee}?` });
  await dialog.getByRole("button", { name: "Revoke invitation" }).click();
  await expect(page.getByText("No pending invitations.")).toBeVisible();

  const other = await (await browser.newContext()).newPage();
  await other.goto(link);
  await expect(other.getByRole("heading", { name: "This invitation was revoked." })).toBeVisible();
  await expect(other.getByRole("button", { name: "Create user and join" })).toHaveCount(0);
});

test("a user with an account of their own signs in from the link, accepts, and switches between the two accounts", async ({
  page,
  browser,
}) => {
  const owner = uniqueEmail();
  await signUp(page, owner);
  await expect(page).toHaveURL(/\/dashboard$/);
  await openMembers(page);
  const member = uniqueEmail();
  const link = await invite(page, member, "developer");

  // The invitee already uses Keysmith, with an account (and a key) of their own.
  const theirs = await browser.newContext();
  const other = await theirs.newPage();
  await signUp(other, member);
  await expect(other).toHaveURL(/\/dashboard$/);
  await other.getByRole("button", { name: "Sign out" }).click();
  await expect(other).toHaveURL(/\/login/);

  await other.goto(link);
  await hydrated(other);
  await other.getByRole("link", { name: "Sign in to accept" }).click();
  await expect(other).toHaveURL(/\/login/);
  await signIn(other, member);
  await expect(other).toHaveURL(/\/invite\/[0-9a-f]{64}$/);
  await hydrated(other);
  await other.getByRole("button", { name: "Accept invitation" }).click();
  await expect(other).toHaveURL(/\/dashboard\/api-keys$/);
  await hydrated(other);

  // Now acting in the owner's account as a developer; the switcher names both.
  // (The account and role under the email; the switcher lists every account.)
  const acting = other.locator(".account-role");
  await expect(acting).toHaveText(`${owner} · developer`);
  const switcher = other.getByLabel("Account");
  await expect(switcher.getByRole("option")).toHaveCount(2);
  await expect(other.getByRole("button", { name: "Create API key" })).toBeVisible();

  await switcher.selectOption({ label: `${member} (owner)` });
  await other.getByRole("button", { name: "Switch" }).click();
  await expect(other).toHaveURL(/\/dashboard$/);
  await hydrated(other);
  await expect(acting).toHaveText("owner");
  await expect(other.getByRole("link", { name: "Members" })).toBeVisible();
  await theirs.close();
});
