import { expect, test, type Locator, type Page } from "@playwright/test";
import { hydrated, openFromMenu, signUp, uniqueEmail } from "./helpers";

async function createKey(page: Page, name: string): Promise<void> {
  await page.getByRole("button", { name: /Create (API|your first) key/ }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByRole("button", { name: "Create" }).click();
  const created = page.getByRole("dialog", { name: "API key created" });
  await created.getByRole("button", { name: "Done" }).click();
  await created.getByRole("button", { name: "Yes, close" }).click();
  await expect(created).toBeHidden();
}

/** How far the element's box sits below the top of its scrolling frame. */
async function offsetInFrame(cell: Locator): Promise<number> {
  return cell.evaluate((el) => {
    const frame = el.closest(".table-wrap")!;
    return el.getBoundingClientRect().top - frame.getBoundingClientRect().top;
  });
}

test("a long table keeps its header in view while its rows scroll", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 600 });
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await openFromMenu(page, "API Keys");
  await createKey(page, "Scrolled");
  await page.getByRole("row", { name: /Scrolled/ }).getByRole("link", { name: "Scrolled" }).click();
  await hydrated(page);
  await page.getByText("Show the numbers").click();

  const table = page.getByRole("table", { name: "Requests per day, last 30 days" });
  await expect(table.getByRole("row")).toHaveCount(31);
  const header = table.getByRole("columnheader", { name: "Valid" });
  const frame = page.getByRole("region", { name: "Requests per day, last 30 days" });
  // Thirty days do not fit in the frame: it scrolls, the page does not.
  expect(await frame.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
  await frame.evaluate((el) => el.scrollTo(0, 400));
  expect(await frame.evaluate((el) => el.scrollTop)).toBeGreaterThan(300);
  expect(Math.abs(await offsetInFrame(header))).toBeLessThan(2);
  await expect(header).toBeInViewport();
  // The first day has scrolled away under it.
  await expect(table.getByRole("row").nth(1)).not.toBeInViewport();
});

test("a table with no rows says so instead of showing an empty grid", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await openFromMenu(page, "Members");
  await expect(page.getByText("No pending invitations.")).toBeVisible();
  await expect(page.getByRole("table", { name: "Pending invitations, newest first" })).toHaveCount(0);
  await expect(page.getByRole("table", { name: "Members, in the order they joined" })).toBeVisible();

  await openFromMenu(page, "API Keys");
  await createKey(page, "Present");
  await page.getByRole("searchbox").fill("nothing is called this");
  await expect(page.getByText("No keys match.")).toBeVisible();
  await expect(page.getByRole("table", { name: "API keys, newest first" })).toHaveCount(0);
});

test("on a phone each row is a card whose values are labelled, and nothing scrolls sideways", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/dashboard$/);
  await openFromMenu(page, "API Keys");
  await createKey(page, "Pocket");
  await createKey(page, "Wallet");

  await page.setViewportSize({ width: 390, height: 844 });
  for (const name of ["API Keys", "Members", "Audit log"]) {
    await openFromMenu(page, name);
    const table = page.locator("table.data-table").first();
    await expect(table).toBeVisible();
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(sideways, `${name} scrolls sideways`).toBeLessThanOrEqual(0);
    const frame = page.locator(".table-wrap").first();
    expect(await frame.evaluate((el) => el.scrollWidth - el.clientWidth), name).toBeLessThanOrEqual(0);
    // The column titles are not a row of their own here; each card says them.
    await expect(table.locator("thead th").first()).not.toBeInViewport();
    const cards = table.locator("tbody tr");
    for (const card of await cards.all()) {
      const box = (await card.boundingBox())!;
      expect(box.width, `${name}: a card fits the screen`).toBeLessThanOrEqual(390);
      expect(box.height, `${name}: a card is shorter than the screen`).toBeLessThan(844);
    }
  }

  await openFromMenu(page, "API Keys");
  const card = page.locator("table.data-table tbody tr", { hasText: "Pocket" });
  const status = card.locator("td[data-label='Status']");
  await expect(status).toContainText("Active");
  const label = await status.evaluate((el) => getComputedStyle(el, "::before").content);
  expect(label).toBe('"Status"');
  // Two cards, one above the other, not side by side.
  const [first, second] = await page.locator("table.data-table tbody tr").all();
  expect((await second.boundingBox())!.y).toBeGreaterThanOrEqual(
    (await first.boundingBox())!.y + (await first.boundingBox())!.height,
  );
  const rotate = card.getByRole("button", { name: "Rotate" });
  await rotate.scrollIntoViewIfNeeded();
  await expect(rotate).toBeInViewport({ ratio: 1 });
});
