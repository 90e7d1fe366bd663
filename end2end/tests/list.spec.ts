import { expect, test, type APIRequestContext } from "@playwright/test";
import { SessionsPage } from "../pages/sessions-page";

// The sessions list against demo data (`threadline demo`): sessions with several agents, models
// and tools exist, but no test relies on particular ids, names or counts.

/** How many sessions the read API counts for the given filters. */
async function apiCount(request: APIRequestContext, query: string): Promise<number> {
  const response = await request.get(`/api/v1/observability/sessions/?${query}&limit=1`);
  expect(response.status()).toBe(200);
  const body = (await response.json()) as { count: number };
  return body.count;
}

/** The first tool chip shown in the list, and its name. */
async function firstToolName(sessions: SessionsPage): Promise<string> {
  const chip = sessions.page.getByTestId("cell-tools").getByRole("link").first();
  await expect(chip).toBeVisible();
  return (await chip.innerText()).trim();
}

function nonIncreasing(values: number[]): boolean {
  return values.every((value, i) => i === 0 || values[i - 1] >= value);
}

test.describe("with JavaScript", () => {
  test("sorting by Cost shows the most expensive sessions first", async ({ page }) => {
    const sessions = new SessionsPage(page);
    await sessions.goto();
    await sessions.waitForHydration();
    await expect(sessions.rows.first()).toBeVisible();

    await sessions.sortBy("Cost");
    await expect(page).toHaveURL(/[?&]sort=-total_cost(&|$)/);
    await expect(sessions.columnHeader("Cost")).toHaveAttribute("aria-sort", "descending");
    await sessions.waitForResults();
    await expect.poll(async () => nonIncreasing(await sessions.costs())).toBe(true);
    const costs = await sessions.costs();
    expect(costs.length).toBeGreaterThan(1);
    expect(costs.every((c) => Number.isFinite(c))).toBe(true);
  });

  test("a tool search lists only the sessions that used the tool", async ({ page, request }) => {
    const sessions = new SessionsPage(page);
    await sessions.goto();
    await sessions.waitForHydration();
    const tool = await firstToolName(sessions);

    await sessions.searchScope.selectOption({ label: "Tool" });
    await sessions.searchBox.fill(tool);
    await sessions.searchBox.press("Enter");
    await expect(page).toHaveURL(/[?&]scope=tool(&|$)/);
    await expect(page).toHaveURL(new RegExp(`[?&]q=${encodeURIComponent(tool)}(&|$)`));

    const expected = await apiCount(request, `tool=${encodeURIComponent(tool)}`);
    expect(expected).toBeGreaterThan(0);
    await expect.poll(() => sessions.total()).toBe(expected);
    await sessions.waitForResults();
    const perRow = await sessions.chipNamesPerRow("tools");
    expect(perRow.length).toBeGreaterThan(0);
    for (const names of perRow) {
      expect(names).toContain(tool);
    }
  });

  test("typing in the search box narrows the list in place and keeps it in the URL", async ({
    page,
  }) => {
    const sessions = new SessionsPage(page);
    await sessions.goto();
    await sessions.waitForHydration();
    await expect(sessions.rows.first()).toBeVisible();
    const before = await sessions.total();
    const id = (await sessions.sessionLink(sessions.rows.nth(1)).innerText()).trim();
    await sessions.markDocument();

    await expect(sessions.searchScope).toHaveValue("any");
    await sessions.searchBox.pressSequentially(id, { delay: 20 });
    await expect(page).toHaveURL(new RegExp(`[?&]q=${encodeURIComponent(id)}(&|$)`));
    await expect.poll(() => sessions.total()).toBeLessThan(before);
    await expect(sessions.sessionLink(sessions.rows.first())).toHaveText(id);
    await expect(sessions.searchBox).toHaveValue(id);
    await expect(sessions.searchBox).toBeFocused();
    expect(await sessions.sameDocument()).toBe(true);

    // One history entry for the whole typing, not one per prefix: back is the list before.
    await page.goBack();
    await expect(page).not.toHaveURL(/[?&]q=/);
    await expect.poll(() => sessions.total()).toBe(before);
    await expect(sessions.searchBox).toHaveValue("");
    await page.goForward();
    await expect(page).toHaveURL(new RegExp(`[?&]q=${encodeURIComponent(id)}(&|$)`));
    await expect.poll(() => sessions.total()).toBeLessThan(before);
    expect(await sessions.sameDocument()).toBe(true);
  });

  test("choosing an agent lists only that agent's sessions", async ({ page }) => {
    const sessions = new SessionsPage(page);
    await sessions.goto();
    await sessions.waitForHydration();
    await expect(sessions.agentSelect).toBeEnabled();
    const options = (await sessions.agentSelect.getByRole("option").allInnerTexts())
      .map((t) => t.trim())
      .filter((t) => t !== "All agents");
    expect(options.length).toBeGreaterThan(0);
    const agent = options[options.length - 1];

    await sessions.agentSelect.selectOption({ label: agent });
    await expect(page).toHaveURL(new RegExp(`[?&]agent=${encodeURIComponent(agent)}(&|$)`));
    await sessions.waitForResults();
    await expect
      .poll(async () => (await sessions.chipNamesPerRow("agents")).every((n) => n.includes(agent)))
      .toBe(true);
    expect(await sessions.rows.count()).toBeGreaterThan(0);
    await expect(sessions.agentSelect).toHaveValue(agent);
  });

  test("paging forward and back, and the browser's back and forward", async ({ page }) => {
    const sessions = new SessionsPage(page);
    await sessions.goto();
    await sessions.waitForHydration();
    await expect(sessions.rows.first()).toBeVisible();
    const first = await sessions.range();
    expect(first.from).toBe(1);
    test.skip(first.to >= first.total, "the demo data fits on one page");
    const firstIds = await sessions.sessionIds();

    await sessions.nextPage.click();
    await expect(page).toHaveURL(new RegExp(`[?&]offset=${first.to}(&|$)`));
    await expect.poll(async () => (await sessions.range()).from).toBe(first.to + 1);
    const second = await sessions.range();
    expect(second.total).toBe(first.total);
    expect(second.text).not.toBe(first.text);
    await sessions.waitForResults();
    const secondIds = await sessions.sessionIds();
    expect(secondIds).not.toEqual(firstIds);
    expect(secondIds.filter((id) => firstIds.includes(id))).toEqual([]);

    await sessions.previousPage.click();
    await expect(page).not.toHaveURL(/[?&]offset=[1-9]/);
    await expect(sessions.summary).toHaveText(first.text);
    await expect.poll(() => sessions.sessionIds()).toEqual(firstIds);

    await page.goBack();
    await expect(page).toHaveURL(new RegExp(`[?&]offset=${first.to}(&|$)`));
    await expect(sessions.summary).toHaveText(second.text);
    await expect.poll(() => sessions.sessionIds()).toEqual(secondIds);

    await page.goForward();
    await expect(sessions.summary).toHaveText(first.text);
    await expect.poll(() => sessions.sessionIds()).toEqual(firstIds);
  });

  test("a reload keeps the sort, the filter and the page", async ({ page }) => {
    const sessions = new SessionsPage(page);
    await sessions.goto();
    await sessions.waitForHydration();
    await sessions.sortBy("Cost");
    await expect(page).toHaveURL(/[?&]sort=-total_cost(&|$)/);
    await sessions.waitForResults();
    await sessions.searchScope.selectOption({ label: "Tool" });
    const tool = await firstToolName(sessions);
    await sessions.searchBox.fill(tool);
    await sessions.searchButton.click();
    await expect(page).toHaveURL(/[?&]scope=tool(&|$)/);
    await sessions.waitForResults();
    await expect.poll(async () => (await sessions.range()).from).toBe(1);
    const filtered = await sessions.range();
    if (filtered.to < filtered.total) {
      await sessions.nextPage.click();
      await expect(page).toHaveURL(/[?&]offset=\d+/);
      await expect.poll(async () => (await sessions.range()).from).toBe(filtered.to + 1);
    }
    await sessions.waitForResults();
    const url = page.url();
    const summary = (await sessions.range()).text;
    const ids = await sessions.sessionIds();

    await page.reload();
    await sessions.waitForHydration();
    expect(page.url()).toBe(url);
    await expect(sessions.summary).toHaveText(summary);
    expect(await sessions.sessionIds()).toEqual(ids);
    await expect(sessions.columnHeader("Cost")).toHaveAttribute("aria-sort", "descending");
    await expect(sessions.searchScope).toHaveValue("tool");
    await expect(sessions.searchBox).toHaveValue(tool);
    expect(nonIncreasing(await sessions.costs())).toBe(true);
  });

  test("every session that used a tool, in two actions: a tool chip in a row", async ({
    page,
    request,
  }) => {
    const sessions = new SessionsPage(page);
    await sessions.goto();
    await sessions.waitForHydration();
    const chip = page.getByTestId("cell-tools").getByRole("link").first();
    await expect(chip).toBeVisible();
    const tool = (await chip.innerText()).trim();

    await chip.click();
    await expect(page).toHaveURL(new RegExp(`[?&]tool=${encodeURIComponent(tool)}(&|$)`));
    await expect(sessions.searchScope).toHaveValue("tool");
    await expect(sessions.searchBox).toHaveValue(tool);
    const expected = await apiCount(request, `tool=${encodeURIComponent(tool)}`);
    await expect.poll(() => sessions.total()).toBe(expected);
    await sessions.waitForResults();
    for (const names of await sessions.chipNamesPerRow("tools")) {
      expect(names).toContain(tool);
    }
  });
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the list renders and the search form filters", async ({ page, request }) => {
    const sessions = new SessionsPage(page);
    await sessions.goto();
    await expect(sessions.rows.first()).toBeVisible();
    const before = await sessions.total();
    const tool = await firstToolName(sessions);

    // Enter submits the plain GET form.
    await sessions.searchScope.selectOption({ label: "Tool" });
    await sessions.searchBox.fill(tool);
    await sessions.searchBox.press("Enter");
    await expect(page).toHaveURL(new RegExp(`[?&]q=${encodeURIComponent(tool)}(&|$)`));
    await expect(page).toHaveURL(/[?&]scope=tool(&|$)/);
    const expected = await apiCount(request, `tool=${encodeURIComponent(tool)}`);
    expect(await sessions.total()).toBe(expected);
    for (const names of await sessions.chipNamesPerRow("tools")) {
      expect(names).toContain(tool);
    }

    // So does the Search button, from the page the first search gave.
    const id = (await sessions.sessionLink(sessions.rows.first()).innerText()).trim();
    await sessions.searchScope.selectOption({ label: "Session ID" });
    await sessions.searchBox.fill(id);
    await sessions.searchButton.click();
    await expect(page).toHaveURL(/[?&]scope=id(&|$)/);
    await expect(sessions.sessionLink(sessions.rows.first())).toHaveText(id);
    expect(await sessions.total()).toBeLessThan(before);
  });
});
