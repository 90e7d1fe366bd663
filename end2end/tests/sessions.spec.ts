import { expect, test } from "@playwright/test";
import { SessionsPage } from "../pages/sessions-page";

// The test server holds demo data (`threadline demo`), so sessions exist, but no test relies on
// particular ids or counts.

test("the sessions list is complete in the server's HTML", async ({ request }) => {
  const response = await request.get("/");
  expect(response.status()).toBe(200);
  const html = await response.text();
  // Either the table or the getting-started state is there before any WebAssembly runs.
  expect(html).toMatch(/data-testid="sessions-(table|empty)"/);
  if (html.includes('data-testid="sessions-table"')) {
    expect(html).toContain('data-testid="session-row"');
    expect(html).toMatch(/<th[^>]*aria-sort="descending"/);
  }
});

test("sorting by a column header works in place once hydrated", async ({ page }) => {
  const sessions = new SessionsPage(page);
  await sessions.goto();
  await sessions.waitForHydration();
  await expect(sessions.rows.first()).toBeVisible();

  // Default order: most recent activity first.
  await expect(sessions.columnHeader("Last Activity")).toHaveAttribute("aria-sort", "descending");
  const runs = sessions.columnHeader("Runs");
  await expect(runs).not.toHaveAttribute("aria-sort");

  // A full page load would lose this; client-side navigation keeps it.
  await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));

  await sessions.sortBy("Runs");
  await expect(page).toHaveURL(/[?&]sort=-run_count(&|$)/);
  await expect(runs).toHaveAttribute("aria-sort", "descending");
  await expect(sessions.columnHeader("Last Activity")).not.toHaveAttribute("aria-sort");
  const descending = await sessions.runCounts();
  expect(descending.length).toBeGreaterThan(0);
  expect(descending).toEqual([...descending].sort((a, b) => b - a));

  // Clicking again reverses the order.
  await sessions.sortBy("Runs");
  await expect(page).toHaveURL(/[?&]sort=run_count(&|$)/);
  await expect(runs).toHaveAttribute("aria-sort", "ascending");
  const ascending = await sessions.runCounts();
  expect(ascending).toEqual([...ascending].sort((a, b) => a - b));

  const stillSamePage = await page.evaluate(
    () => (window as unknown as { __noReload?: boolean }).__noReload === true,
  );
  expect(stillSamePage).toBe(true);
});
