import { expect, test, type Page } from "@playwright/test";
import { SessionPage, TracePage } from "../pages/session-page";
import { SessionsPage } from "../pages/sessions-page";

// Runs against demo data (`threadline demo`): gateway sessions whose runs report latency
// phases, tools and a span tree per run. No test relies on particular ids or counts.

/**
 * Opens, from the sessions list (longest sessions first), the first session whose runs carry
 * gateway metrics, the way a user would: clicking the session id in its row.
 */
async function openGatewaySession(page: Page): Promise<SessionPage> {
  const sessions = new SessionsPage(page);
  const session = new SessionPage(page);
  await sessions.goto("?sort=-run_count");
  await expect(sessions.rows.first()).toBeVisible();
  const candidates = Math.min(await sessions.rows.count(), 10);
  for (let i = 0; i < candidates; i++) {
    await sessions.rows.nth(i).getByRole("link").first().click();
    await expect(page).toHaveURL(/\/sessions\/[^/?]+/);
    await expect(session.runCards.first()).toBeVisible();
    if ((await session.latencyLegend.count()) > 0) {
      return session;
    }
    await page.goBack();
    await expect(sessions.rows.first()).toBeVisible();
  }
  throw new Error("no session with gateway metrics among the longest sessions of the demo data");
}

/** Marks the document so a full page load (which would drop the mark) can be detected. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));
}

async function sameDocument(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload === true);
}

test("a session opened from the list shows its summary and one card per run", async ({ page }) => {
  const session = await openGatewaySession(page);

  await expect(page.getByRole("heading", { level: 1, name: /Session/ })).toBeVisible();
  await expect(session.sessionId).not.toBeEmpty();
  const id = (await session.sessionId.innerText()).trim();
  await expect(page).toHaveTitle(`Session ${id} · Threadline`);
  await expect(session.grouping).toHaveText(/^(explicit|automatic) · /);
  for (const label of ["Runs", "Total duration", "Total cost", "Total tokens", "Tokens saved", "Errors", "Time span"]) {
    await expect(session.summaryCard(label)).toHaveCount(1);
  }
  await expect(session.summaryCard("Avg. gateway overhead")).toContainText(/\d%/);

  // One card per run, up to the first page of 100.
  const total = Number((await session.summaryValue("Runs")).replace(/,/g, ""));
  expect(total).toBeGreaterThan(0);
  const runs = Math.min(total, 100);
  await expect(session.runCards).toHaveCount(runs);
  await expect(session.runCards.first().getByRole("heading", { name: "Turn 1" })).toBeVisible();

  // Every gateway run has a latency bar whose segments carry exact times, and an overhead %.
  const first = session.runCards.first();
  await expect(first.getByTestId("latency-bar")).toBeVisible();
  await expect(first.getByTestId("latency-bar").getByTitle(/^Upstream: [\d.]+ ms$/)).toHaveCount(1);
  await expect(first.getByTestId("overhead")).toHaveText(/overhead \d+(\.\d)?%/);
  await expect(session.runCards.getByTestId("latency-bar")).toHaveCount(runs);
  await expect(session.runCards.getByTestId("overhead")).toHaveCount(runs);
  await expect(first.getByTestId("tools-forwarded")).toHaveText(/\d+ sent → \d+ forwarded/);
});

test("a tool in a run card lists the sessions that used it", async ({ page }) => {
  const session = await openGatewaySession(page);
  const chip = session.toolChips().first();
  await expect(chip).toBeVisible();
  const tool = (await chip.innerText()).trim();

  await chip.click();
  await expect(page).toHaveURL(new RegExp(`/\\?tool=${encodeURIComponent(tool)}$`));
  const sessions = new SessionsPage(page);
  await expect(sessions.rows.first()).toBeVisible();
  // The list shows the filter it applies: a tool search for exactly that name.
  await expect(page.getByRole("searchbox", { name: "Search" })).toHaveValue(tool);
  await expect(page.getByRole("combobox", { name: "Search in" })).toHaveValue("tool");
});

test("a run's trace opens as a waterfall and a selected span shows its attributes", async ({ page }) => {
  const session = await openGatewaySession(page);
  await session.waitForHydration();
  await session.traceLinks.first().click();

  await expect(page).toHaveURL(/\/traces\/[0-9a-f]{32}$/);
  const trace = new TracePage(page);
  await expect(trace.waterfall).toBeVisible();
  // Navigated in place: the title follows the page.
  const traceId = new URL(page.url()).pathname.split("/").pop();
  await expect(page).toHaveTitle(`Trace ${traceId} · Threadline`);
  await expect(trace.spanRows.first()).toBeVisible();
  expect(await trace.spanRows.count()).toBeGreaterThan(1);
  // LLM / tool / agent spans are told apart by their label.
  await expect(trace.spanRows.first()).toContainText("Agent");
  await expect(trace.waterfall.getByText("LLM", { exact: true }).first()).toBeVisible();

  // Selecting a span is instant once hydrated: the URL changes, the page is not reloaded.
  await markDocument(page);
  const llm = trace.spanRows.filter({ hasText: "chat " }).first();
  await trace.select(llm);
  await expect(llm).toHaveAttribute("aria-current", "true");
  await expect(trace.spanPanel).toBeVisible();
  await expect(trace.spanPanel.getByRole("heading", { level: 2 })).toHaveText(/^chat /);
  await expect(trace.attributes).toContainText("gen_ai.operation.name");
  await expect(trace.attributes).toContainText("chat");
  expect(await sameDocument(page)).toBe(true);

  // The breadcrumb leads back to the session.
  await trace.sessionBreadcrumb.click();
  await expect(page).toHaveURL(/\/sessions\/[^/?]+$/);
  await expect(session.runCards.first()).toBeVisible();
  await expect(page).toHaveTitle(/^Session .+ · Threadline$/);
});

test("a selected span is part of the link and renders on the server", async ({ page, request }) => {
  const session = await openGatewaySession(page);
  const href = await session.traceLinks.first().getAttribute("href");
  expect(href).toMatch(/^\/traces\/[0-9a-f]{32}$/);
  await page.goto(href!);
  const trace = new TracePage(page);
  const rowHref = await trace.spanRows.nth(1).getAttribute("href");
  expect(rowHref).toMatch(/^\?span=[0-9a-f]{16}$/);

  const html = await (await request.get(`${href}${rowHref}`)).text();
  expect(html).toContain('data-testid="span-panel"');
  expect(html).toContain('data-testid="span-attributes"');
});

test("load more appends runs in place, and the link works without JavaScript", async ({ page, request }) => {
  const session = await openGatewaySession(page);
  const total = Number((await session.summaryValue("Runs")).replace(/,/g, ""));
  expect(total).toBeGreaterThan(2);
  const path = new URL(page.url()).pathname;

  // Without JavaScript: the server renders the first N runs and a plain link to N + 100.
  const html = await (await request.get(`${path}?runs=2`)).text();
  expect(html.match(/data-testid="run-card"/g)?.length).toBe(2);
  expect(html).toMatch(/href="\?runs=102"/);

  // With JavaScript: the same link fetches only the missing runs and appends them.
  await page.goto(`${path}?runs=2`);
  await session.waitForHydration();
  await expect(session.runCards).toHaveCount(2);
  await markDocument(page);
  await session.loadMore.click();
  await expect(page).toHaveURL(/[?&]runs=102$/);
  await expect(session.runCards).toHaveCount(Math.min(total, 102));
  if (total <= 102) {
    await expect(session.loadMore).toHaveCount(0);
  }
  expect(await sameDocument(page)).toBe(true);

  // Back shows the shorter list again.
  await page.goBack();
  await expect(session.runCards).toHaveCount(2);
});

test("unknown sessions and traces are real 404s", async ({ request, page }) => {
  const missing = await request.get(`/sessions/${encodeURIComponent("no such <session> / 100%")}`);
  expect(missing.status()).toBe(404);
  expect(await missing.text()).toContain("Session not found");
  // The id is shown as text, never as markup.
  expect(await missing.text()).toContain("no such &lt;session&gt; / 100%");

  const trace = await request.get("/traces/00000000000000000000000000000000");
  expect(trace.status()).toBe(404);

  // Ids end up in the page title too, which must not be closable from the URL.
  const title = await request.get(`/traces/${encodeURIComponent("</title><script>alert(1)</script>")}`);
  expect(await title.text()).not.toContain("<script>alert(1)</script>");

  const session = new SessionPage(page);
  await session.goto("no such session");
  await expect(session.notFound).toContainText("Session not found");
});

test("the session page shows the numbers the REST API gives", async ({ page, request }) => {
  const session = await openGatewaySession(page);
  const id = decodeURIComponent(new URL(page.url()).pathname.replace(/^\/sessions\//, ""));
  const api = await (await request.get(`/api/v1/observability/sessions/${encodeURIComponent(id)}/`)).json();
  const a = api.aggregates;
  const n = (x: number) => x.toLocaleString("en-US");

  expect(await session.summaryValue("Runs")).toBe(n(a.run_count));
  expect(await session.summaryValue("Errors")).toBe(n(a.error_count));
  expect(await session.summaryValue("Total tokens")).toContain(n(a.total_tokens));
  expect(await session.summaryValue("Tokens saved")).toContain(n(a.tokens_saved));
  // Costs are shown rounded for people; the exact value must round to what is shown.
  const shown = Number((await session.summaryValue("Total cost")).replace(/[$,]/g, ""));
  const tolerance = shown >= 100 ? 0.51 : shown >= 1 ? 0.0051 : shown >= 0.0001 ? 0.000051 : 0.00000051;
  expect(Math.abs(shown - a.total_cost)).toBeLessThan(tolerance);
  // One card per run of the first page, in the API's order, each with its agent.
  const cards = session.runCards;
  const count = Math.min(api.runs.length, 100);
  await expect(cards).toHaveCount(count);
  for (let i = 0; i < Math.min(count, 5); i++) {
    await expect(cards.nth(i)).toContainText(api.runs[i].agent_name);
    await expect(cards.nth(i)).toContainText(`${n(api.runs[i].input_tokens)} in`);
  }
});
