import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { hydrated, invite, openFromMenu, signUp, uniqueEmail } from "./helpers";

/** Fails naming every serious or critical WCAG 2.1 A/AA violation on the page. */
async function noSeriousViolations(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze();
  const serious = results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  expect(serious, what).toEqual([]);
}

test("no page or dialog has a serious or critical accessibility violation", async ({ page, browser }) => {
  // A journey through every page and dialog, each scanned: several times a
  // single page's test, and slower still in a debug build on a busy machine.
  test.slow();
  const visitor = await (await browser.newContext()).newPage();
  for (const path of ["/login", "/signup"]) {
    await visitor.goto(path);
    await hydrated(visitor);
    await noSeriousViolations(visitor, path);
  }

  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  await noSeriousViolations(page, "overview");

  await openFromMenu(page, "API Keys");
  await noSeriousViolations(page, "API keys, empty");
  await page.getByRole("button", { name: "Create API key" }).click();
  const create = page.getByRole("dialog", { name: "Create API key" });
  await expect(create).toBeVisible();
  await create.getByRole("button", { name: "Add rate limit" }).click();
  await create.getByLabel("Credits", { exact: true }).fill("5");
  await create.getByLabel("Refill", { exact: true }).selectOption("monthly");
  await noSeriousViolations(page, "create dialog, with a rate limit and credits refilled monthly");
  await create.getByRole("button", { name: "Remove rate limit 1" }).click();
  await create.getByLabel("Refill", { exact: true }).selectOption("none");
  await create.getByText("Owner and metadata", { exact: true }).click();
  await create.getByLabel("Metadata").fill("{ not json");
  await expect(create.getByText(/^Line 1, column/)).toBeVisible();
  await noSeriousViolations(page, "create dialog, owner and metadata with a JSON mistake");
  await create.getByLabel("Metadata").fill("");
  await create.getByLabel("Name").fill("Audited");
  await create.getByRole("button", { name: "Create" }).click();
  const created = page.getByRole("dialog", { name: "API key created" });
  await expect(created).toBeVisible();
  await noSeriousViolations(page, "the new key's dialog");
  await created.getByRole("button", { name: "Done" }).click();
  await created.getByRole("button", { name: "Yes, close" }).click();
  await expect(created).toBeHidden();
  await noSeriousViolations(page, "API keys");
  await page.getByRole("button", { name: "Create management key" }).click();
  const management = page.getByRole("dialog", { name: "Create management key" });
  await expect(management).toBeVisible();
  await noSeriousViolations(page, "management key dialog");
  await page.keyboard.press("Escape");
  await expect(management).toBeHidden();
  await page.getByRole("row", { name: /Audited/ }).getByRole("link", { name: "Audited" }).click();
  await expect(page.getByRole("heading", { name: "Audited", level: 1 })).toBeVisible();
  await hydrated(page);
  await noSeriousViolations(page, "the key's page");

  await openFromMenu(page, "Members");
  await noSeriousViolations(page, "members");
  const link = await invite(page, uniqueEmail(), "developer");
  await noSeriousViolations(page, "members with an invitation");
  await page.getByRole("button", { name: "Invite member" }).click();
  await expect(page.getByRole("dialog", { name: "Invite member" })).toBeVisible();
  await noSeriousViolations(page, "invite dialog");
  await page.keyboard.press("Escape");

  await openFromMenu(page, "Audit log");
  await noSeriousViolations(page, "audit log");
  await openFromMenu(page, "API");
  await noSeriousViolations(page, "API");
  await openFromMenu(page, "Account");
  await noSeriousViolations(page, "account");

  // On a phone each table row becomes a card: the pages must pass that way
  // too.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const name of ["API Keys", "Members", "Audit log"]) {
    await openFromMenu(page, name);
    await noSeriousViolations(page, `${name} on a phone`);
  }

  await visitor.goto(link);
  await hydrated(visitor);
  await noSeriousViolations(visitor, "invitation page");
});
