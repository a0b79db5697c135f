import { expect, test } from "@playwright/test";
import { hydrated, signUp, uniqueEmail } from "./helpers";

test("the API page shows this server's base URL, how to authenticate, and the OpenAPI document", async ({ page, baseURL }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API", exact: true }).click();
  await expect(page.getByRole("heading", { name: "API", exact: true })).toBeVisible();

  const base = `${baseURL}/api/v2`;
  await expect(page.getByRole("region", { name: "Base URL" }).getByText(base, { exact: true })).toBeVisible();
  await expect(page.getByText(`curl -X POST ${base}/auth/token`)).toBeVisible();
  await expect(page.getByText(email).first()).toBeVisible();
  await expect(page.getByText("X-API-Key: ks_live_…")).toBeVisible();

  const link = page.getByRole("link", { name: "OpenAPI document" });
  const document = await page.request.get((await link.getAttribute("href"))!);
  expect(document.ok()).toBe(true);
  const spec = await document.json();
  expect(spec.openapi).toMatch(/^3\.1/);
  expect(Object.keys(spec.paths)).toContain("/keys/verify");
});
