import { expect, test } from "@playwright/test";
import { hydrated, PASSWORD, signIn, signUp, uniqueEmail } from "./helpers";

test("sign up lands on the dashboard, then sign out and sign in again", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);

  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await expect(page.getByText(`Welcome, ${email}.`)).toBeVisible();
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByText("Keysmith")).toBeVisible();
  await expect(nav.getByRole("link", { name: "Overview" })).toHaveAttribute("aria-current", "page");
  await expect(nav.getByText(email)).toBeVisible();
  await expect(page.getByRole("main").getByText("Active keys")).toBeVisible();

  await hydrated(page);
  await nav.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  // The session is gone on the server too: the dashboard sends us back.
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/login\?next=\/dashboard$/);

  await signIn(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole("navigation", { name: "Main" }).getByText(email)).toBeVisible();
});

test("a wrong password shows the error and keeps what was typed", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  await signIn(page, email, "not the right password");
  await expect(page.getByRole("alert")).toHaveText("Incorrect email or password.");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByLabel("Email")).toHaveValue(email);

  // An unknown email reads exactly the same: nothing to enumerate.
  await page.getByLabel("Email").fill(uniqueEmail());
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Incorrect email or password.");
});

test("a protected page redirects to sign-in and back after it", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  await page.goto("/dashboard/api-keys");
  await expect(page).toHaveURL(/\/login\?next=%2Fdashboard%2Fapi-keys$|\/login\?next=\/dashboard\/api-keys$/);
  await signIn(page, email);
  await expect(page).toHaveURL(/\/dashboard\/api-keys$/);
  await expect(page.getByRole("heading", { name: "API Keys", exact: true })).toBeVisible();
  await expect(page.getByText("No API keys yet")).toBeVisible();
});

test("sign-up explains each problem next to its field", async ({ page }) => {
  await signUp(page, uniqueEmail(), "too short");
  const password = page.getByLabel("Password");
  await expect(password).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByText("Password must be at least 12 characters.")).toBeVisible();
  await expect(page).toHaveURL(/\/signup$/);

  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  await signUp(page, email.toUpperCase());
  await expect(page.getByText("An account with this email already exists. Sign in instead.")).toBeVisible();
});

test("the sidebar moves between pages without a full reload", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "API Keys" }).click();
  await expect(page).toHaveURL(/\/dashboard\/api-keys$/);
  await expect(page.getByRole("heading", { name: "No API keys yet" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "API Keys" })).toHaveAttribute("aria-current", "page");
  // Still the same document: the hydration marker set by the first load is there.
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await nav.getByRole("link", { name: "Overview" }).click();
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
});
