import { expect, type Locator, type Page } from "@playwright/test";

/** The session page (`/sessions/{id}`): summary cards and the timeline of runs. */
export class SessionPage {
  readonly sessionId: Locator;
  readonly grouping: Locator;
  readonly summaryCards: Locator;
  readonly runCards: Locator;
  readonly latencyLegend: Locator;
  readonly loadMore: Locator;
  readonly notFound: Locator;

  constructor(readonly page: Page) {
    this.sessionId = page.getByTestId("session-id");
    this.grouping = page.getByTestId("grouping");
    this.summaryCards = page.getByTestId("summary-card");
    this.runCards = page.getByTestId("run-card");
    this.latencyLegend = page.getByTestId("latency-legend");
    this.loadMore = page.getByRole("link", { name: "Load more runs" });
    this.notFound = page.getByTestId("not-found");
  }

  async goto(id: string, query = ""): Promise<void> {
    await this.page.goto(`/sessions/${encodeURIComponent(id)}${query}`);
  }

  async waitForHydration(): Promise<void> {
    await expect(this.page.locator("body")).toHaveAttribute("data-hydrated", "true");
  }

  /** The summary card labelled exactly `label` (each card is a term and its definition). */
  summaryCard(label: string): Locator {
    return this.summaryCards.filter({
      has: this.page.getByRole("term").getByText(label, { exact: true }),
    });
  }

  /** The value of the summary card with this label, e.g. `"Runs"` → `"23"`. */
  async summaryValue(label: string): Promise<string> {
    const value = this.summaryCard(label).getByRole("definition").first();
    return (await value.innerText()).trim();
  }

  /** Tool chips inside run cards: links to the sessions that called the tool. */
  toolChips(): Locator {
    return this.runCards.getByTitle(/^Sessions with tool /);
  }

  /** "Trace →" links of the run cards (runs without a trace say "no trace" instead). */
  get traceLinks(): Locator {
    return this.runCards.getByRole("link", { name: /^Open the trace/ });
  }
}

/** The trace page (`/traces/{trace_id}`): the run summary and the span waterfall. */
export class TracePage {
  readonly waterfall: Locator;
  readonly spanRows: Locator;
  readonly spanPanel: Locator;
  readonly attributes: Locator;
  readonly sessionBreadcrumb: Locator;

  constructor(readonly page: Page) {
    this.waterfall = page.getByTestId("waterfall");
    this.spanRows = page.getByTestId("span-row");
    this.spanPanel = page.getByTestId("span-panel");
    this.attributes = page.getByTestId("span-attributes");
    this.sessionBreadcrumb = page
      .getByRole("navigation", { name: "Breadcrumb" })
      .getByTestId("session-breadcrumb");
  }

  /** Selects a span by clicking its row; the selection goes to the URL. */
  async select(row: Locator): Promise<void> {
    await row.click();
    await expect(this.page).toHaveURL(/[?&]span=[0-9a-f]+/);
  }
}
