import { expect, type Locator, type Page } from "@playwright/test";

/** The sessions list (`/`), driven the way a user does: by roles, labels and test ids. */
export class SessionsPage {
  readonly table: Locator;
  readonly rows: Locator;
  readonly emptyState: Locator;

  constructor(readonly page: Page) {
    this.table = page.getByTestId("sessions-table");
    this.rows = page.getByTestId("session-row");
    this.emptyState = page.getByTestId("sessions-empty");
  }

  async goto(query = ""): Promise<void> {
    await this.page.goto(`/${query}`);
  }

  /** Resolves once the WebAssembly has hydrated the page (the app marks `<body>`). */
  async waitForHydration(): Promise<void> {
    await expect(this.page.locator("body")).toHaveAttribute("data-hydrated", "true");
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
}
