import { expect, test } from "@playwright/test";
import { hydrated, signIn, signUp, uniqueEmail } from "./helpers";

test("the Account page lists where you are signed in, and signs another browser out", async ({ page, browser }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);

  const other = await (await browser.newContext()).newPage();
  await other.goto("/login");
  await signIn(other, email);
  await expect(other).toHaveURL(/\/dashboard$/);
  // Its first checked request (the page's who-am-I) records the session.
  await expect(other.getByRole("navigation", { name: "Main" }).getByText(email)).toBeVisible();

  await page.goto("/dashboard/account");
  await hydrated(page);
  const section = page.getByRole("region", { name: "Where you are signed in" });
  const sessions = section.getByRole("table", { name: "Browser sessions, most recently active first" });
  await expect(sessions.getByRole("row")).toHaveCount(3);
  await expect(sessions).toContainText("This session");
  await expect(sessions).toContainText("Chrome on Linux");
  await expect(sessions).toContainText("127.0.0.1");

  await sessions.getByRole("button", { name: /^Sign out Chrome on Linux/ }).click();
  await expect(sessions.getByRole("row")).toHaveCount(2);
  await other.goto("/dashboard/api-keys");
  await expect(other).toHaveURL(/\/login\?next=/);

  // Sign out everywhere else keeps this one.
  await other.goto("/login");
  await signIn(other, email);
  await expect(other).toHaveURL(/\/dashboard$/);
  await expect(other.getByRole("navigation", { name: "Main" }).getByText(email)).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(sessions.getByRole("row")).toHaveCount(3);
  await section.getByRole("button", { name: "Sign out everywhere else" }).click();
  await expect(section.getByRole("status")).toContainText("Signed out everywhere else");
  await expect(sessions.getByRole("row")).toHaveCount(2);
  await other.goto("/dashboard");
  await expect(other).toHaveURL(/\/login\?next=/);
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/dashboard$/);
});
