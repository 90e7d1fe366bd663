import { expect, type Locator, type Page } from "@playwright/test";

/** The sign-in page (`/login`) and the header's way out, driven by labels and roles. */
export class LoginPage {
  readonly heading: Locator;
  readonly userName: Locator;
  readonly password: Locator;
  readonly signIn: Locator;
  readonly failure: Locator;
  readonly signOut: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole("heading", { name: "Sign in" });
    this.userName = page.getByLabel("User name");
    this.password = page.getByLabel("Password");
    this.signIn = page.getByRole("button", { name: "Sign in" });
    this.failure = page.getByRole("alert");
    this.signOut = page.getByRole("button", { name: "Sign out" });
  }

  async expectShown(): Promise<void> {
    await expect(this.page).toHaveURL(/\/login(\?|$)/);
    await expect(this.heading).toBeVisible();
  }

  async signInAs(name: string, password: string): Promise<void> {
    await this.userName.fill(name);
    await this.password.fill(password);
    await this.signIn.click();
  }
}
