// Shared test fixture: every test fails on a console error or an uncaught page error, and helpers
// speak keyflow's DOM contract (see README "Tests" / the UI's data-* attributes).
import { test as base, expect, type Page } from "@playwright/test";

export const ADMIN_USERNAME = "akadmin";
/** Must match KEYFLOW_BOOTSTRAP_PASSWORD of the server under test (.ci/test sets both). */
export const ADMIN_PASSWORD = process.env.KEYFLOW_TEST_PASSWORD ?? "Akadmin-Pass-123";
/** The server's KEYFLOW_BOOTSTRAP_TOKEN (an API token for akadmin). */
export const API_TOKEN = process.env.KEYFLOW_TEST_TOKEN ?? "";

export const LOGIN_URL = "/flows/-/default/authentication/";
export const LOGOUT_URL = "/flows/-/default/invalidation/";
export const ME_URL = "/api/v3/core/users/me/";

type Fixtures = { consoleErrors: string[] };

export const test = base.extend<Fixtures>({
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") {
          const where = message.location();
          errors.push(`console.error: ${message.text()} (${where.url}:${where.lineNumber})`);
        }
      });
      page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
      page.on("crash", () => errors.push("page crashed"));
      await use(errors);
      expect(errors, "console errors / page errors during the test").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Waits until the WASM bundle ran and hydration finished. */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
}

export const stage = (page: Page, component: string) =>
  page.locator(`[data-component="${component}"]`);

/** Opens the default authentication flow (optionally waiting for hydration). */
export async function openLogin(page: Page, { js = true } = {}): Promise<void> {
  await page.goto(LOGIN_URL);
  if (js) await hydrated(page);
  await expect(stage(page, "ak-stage-identification")).toBeVisible();
}

export async function submitIdentification(page: Page, uid: string): Promise<void> {
  const form = stage(page, "ak-stage-identification");
  await form.locator('input[name="uid_field"]').fill(uid);
  await form.locator('button[type="submit"]').click();
  await expect(stage(page, "ak-stage-password")).toBeVisible();
}

export async function submitPassword(page: Page, password: string): Promise<void> {
  const form = stage(page, "ak-stage-password");
  await form.locator('input[name="password"]').fill(password);
  await form.locator('button[type="submit"]').click();
}

/** A full login as `username`, ending on `/` with the user shown. */
export async function login(
  page: Page,
  { username = ADMIN_USERNAME, password = ADMIN_PASSWORD, js = true } = {},
): Promise<void> {
  await openLogin(page, { js });
  await submitIdentification(page, username);
  await submitPassword(page, password);
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await expect(page.getByTestId("current-user")).toContainText(username);
}
