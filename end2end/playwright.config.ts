import { defineConfig, devices } from "@playwright/test";

/**
 * Browser tests against a running Threadline server.
 *
 * `cargo leptos end-to-end` builds the app, starts the server on 127.0.0.1:3000 and runs
 * `npx playwright test` here; it does not wait for the server, so `global-setup.ts` polls
 * `/healthz` first. The browser is the system Chromium (installs run with
 * PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1); set CHROMIUM_PATH to use another one.
 */
export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  forbidOnly: !!process.env.CI,
  reporter: [["list"]],
  use: {
    baseURL: process.env.THREADLINE_BASE_URL ?? "http://127.0.0.1:3000",
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
});
