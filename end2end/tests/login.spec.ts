import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { LoginPage } from "../pages/login-page";
import { SessionsPage } from "../pages/sessions-page";

// The shared test server runs on loopback without users, so signing in is off there. This file
// starts its own server from the same build, on its own database with one user, where signing
// in is required; the other tests are untouched.

const root = path.resolve(__dirname, "../..");
const binary = path.join(root, "target/debug/threadline");
const USER = "e2e-user";
const PASSWORD = "a long e2e password";

let server: ChildProcess | undefined;
let dir = "";
let base = "";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

test.beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "threadline-login-"));
  const database = `sqlite:${path.join(dir, "login.db")}`;
  const env = { ...process.env, THREADLINE_DATABASE_URL: database, THREADLINE_LOG: "warn" };
  const created = spawnSync(binary, ["users", "create", USER, "--password-stdin"], {
    cwd: root,
    env,
    input: `${PASSWORD}\n`,
  });
  expect(created.status, String(created.stderr)).toBe(0);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(binary, ["serve", "--addr", `127.0.0.1:${port}`, "--demo-if-empty", "20"], {
    cwd: root,
    env: { ...env, LEPTOS_SITE_ROOT: "target/site" },
    stdio: "ignore",
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the sign-in server at ${base} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
});

test.afterAll(() => {
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("signing in through the form opens the sessions list, signing out closes it", async ({
  page,
}) => {
  const login = new LoginPage(page);
  const sessions = new SessionsPage(page);

  // A stranger asking for the list lands on the sign-in form.
  await page.goto(`${base}/`);
  await login.expectShown();

  await login.signInAs(USER, "not the password");
  await login.expectShown();
  await expect(login.failure).toHaveText("Wrong user name or password.");

  await login.signInAs(USER, PASSWORD);
  await expect(page).toHaveURL(`${base}/`);
  await expect(sessions.rows.first()).toBeVisible();
  await expect(page.getByText(USER)).toBeVisible();

  await login.signOut.click();
  await login.expectShown();
  await page.goto(`${base}/`);
  await login.expectShown();
});
