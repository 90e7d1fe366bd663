import { expect, type Locator, type Page } from "@playwright/test";

/** The sessions list (`/`), driven the way a user does: by roles, labels and test ids. */
export class SessionsPage {
  readonly table: Locator;
  readonly rows: Locator;
  readonly emptyState: Locator;
  readonly results: Locator;
  readonly searchBox: Locator;
  readonly searchScope: Locator;
  readonly searchButton: Locator;
  readonly agentSelect: Locator;
  readonly summary: Locator;
  readonly nextPage: Locator;
  readonly previousPage: Locator;

  constructor(readonly page: Page) {
    this.table = page.getByTestId("sessions-table");
    this.rows = page.getByTestId("session-row");
    this.emptyState = page.getByTestId("sessions-empty");
    this.results = page.getByTestId("sessions-results");
    this.searchBox = page.getByRole("searchbox", { name: "Search", exact: true });
    this.searchScope = page.getByRole("combobox", { name: "Search in" });
    this.searchButton = page.getByRole("button", { name: "Search", exact: true });
    this.agentSelect = page.getByRole("combobox", { name: /^Agent/ });
    this.summary = page.getByTestId("pagination-summary");
    const pagination = page.getByRole("navigation", { name: "Pagination" });
    this.nextPage = pagination.getByRole("link", { name: "Next" });
    this.previousPage = pagination.getByRole("link", { name: "Previous" });
  }

  async goto(query = ""): Promise<void> {
    await this.page.goto(`/${query}`);
  }

  /** Resolves once the WebAssembly has hydrated the page (the app marks `<body>`). */
  async waitForHydration(): Promise<void> {
    await expect(this.page.locator("body")).toHaveAttribute("data-hydrated", "true");
  }

  /** Resolves once no newer list is being fetched (the previous rows stay while one is). */
  async waitForResults(): Promise<void> {
    await expect(this.results).toHaveAttribute("aria-busy", "false");
  }

  columnHeader(name: string): Locator {
    return this.page.getByRole("columnheader", { name, exact: true });
  }

  async sortBy(name: string): Promise<void> {
    await this.columnHeader(name).getByRole("link").click();
  }

  /** The Runs column of the rows shown, as numbers. */
  async runCounts(): Promise<number[]> {
    const texts = await this.rows.getByTestId("cell-run_count").allInnerTexts();
    return texts.map((text) => Number(text.replace(/,/g, "")));
  }

  /** The Cost column of the rows shown, in dollars (as displayed, rounded). */
  async costs(): Promise<number[]> {
    const texts = await this.rows.getByTestId("cell-total_cost").allInnerTexts();
    return texts.map((text) => Number(text.trim().replace(/[$,]/g, "")));
  }

  /** The session ids of the rows shown, in order. */
  async sessionIds(): Promise<string[]> {
    const ids: string[] = [];
    const count = await this.rows.count();
    for (let i = 0; i < count; i++) {
      ids.push((await this.sessionLink(this.rows.nth(i)).innerText()).trim());
    }
    return ids;
  }

  /** A row's session id link (its first link). */
  sessionLink(row: Locator): Locator {
    return row.getByRole("link").first();
  }

  /** A row's tool chips (links to the sessions with that tool). */
  toolChips(row: Locator): Locator {
    return row.getByTestId("cell-tools").getByRole("link");
  }

  /** Every name of a chip cell ("agents" / "tools"): the chips shown and those behind "+N". */
  async chipNames(row: Locator, column: "agents" | "tools"): Promise<string[]> {
    const cell = row.getByTestId(`cell-${column}`);
    const shown = (await cell.getByRole("link").allInnerTexts()).map((t) => t.trim());
    const more = cell.getByText(/^\s*more: /);
    const hidden =
      (await more.count()) > 0
        ? ((await more.textContent()) ?? "")
            .replace(/^\s*more:\s*/, "")
            .split(", ")
            .map((t) => t.trim())
            .filter((t) => t.length > 0)
        : [];
    return [...shown, ...hidden];
  }

  /** The chip names of every row shown. */
  async chipNamesPerRow(column: "agents" | "tools"): Promise<string[][]> {
    const names: string[][] = [];
    const count = await this.rows.count();
    for (let i = 0; i < count; i++) {
      names.push(await this.chipNames(this.rows.nth(i), column));
    }
    return names;
  }

  /** The pagination summary, e.g. "26–50 of 4,520 sessions", as numbers. */
  async range(): Promise<{ from: number; to: number; total: number; text: string }> {
    const text = (await this.summary.innerText()).trim();
    const match = /^([\d,]+)–([\d,]+) of ([\d,]+)/.exec(text);
    if (!match) {
      const none = /^0 of ([\d,]+)/.exec(text);
      const total = none ? Number(none[1].replace(/,/g, "")) : NaN;
      return { from: 0, to: 0, total, text };
    }
    const num = (s: string) => Number(s.replace(/,/g, ""));
    return { from: num(match[1]), to: num(match[2]), total: num(match[3]), text };
  }

  /** The total the summary reports. */
  async total(): Promise<number> {
    return (await this.range()).total;
  }

  /** Marks the document so a full page load (which would drop the mark) can be detected. */
  async markDocument(): Promise<void> {
    await this.page.evaluate(
      () => ((window as unknown as { __noReload: boolean }).__noReload = true),
    );
  }

  async sameDocument(): Promise<boolean> {
    return this.page.evaluate(
      () => (window as unknown as { __noReload?: boolean }).__noReload === true,
    );
  }
}
