import { defineConfig, devices } from "@playwright/test";

// keyflow's browser tests. The server is started by .ci/test (fresh SQLite, bootstrap password and
// token) or by `cargo leptos end-to-end`; global-setup.ts waits until it answers.
// Always `localhost`, never an IP: WebAuthn's relying party ID is a domain.
const baseURL = process.env.KEYFLOW_BASE_URL ?? "http://localhost:3000";

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [
    ["list"],
    ["json", { outputFile: "playwright-report/results.json" }],
  ],
  outputDir: "test-results",
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        // Debian's chromium; Playwright's own browser builds cannot be downloaded here.
        launchOptions: {
          executablePath: process.env.KEYFLOW_CHROMIUM ?? "/usr/bin/chromium",
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
