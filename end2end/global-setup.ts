import type { FullConfig } from "@playwright/test";

/** Waits until the server answers `GET /healthz` with 200 (bounded), since nothing else does. */
export default async function globalSetup(config: FullConfig): Promise<void> {
  const baseURL =
    (config.projects[0]?.use?.baseURL as string | undefined) ?? "http://127.0.0.1:3000";
  const url = new URL("/healthz", baseURL).toString();
  const timeoutMs = Number(process.env.THREADLINE_E2E_WAIT_MS ?? 120_000);
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) {
        return;
      }
      last = `status ${response.status}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`Threadline did not become healthy at ${url} within ${timeoutMs} ms (${last})`);
}
