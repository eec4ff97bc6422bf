// Helpers for the admin interface's browser tests (/if/admin/): log in as the bootstrap admin
// through the normal flow, open an admin page and wait for the admin bundle to hydrate.
import type { Page } from "@playwright/test";
import { expect, hydrated, login } from "./fixtures";

/** Logs in as akadmin (the normal login flow), then opens `path` (an /if/admin/ page). */
export async function openAdmin(page: Page, path = "/if/admin/"): Promise<void> {
  await login(page);
  await gotoAdmin(page, path);
}

/** Opens an admin page in an already signed-in page and waits for hydration. */
export async function gotoAdmin(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await hydrated(page);
  await expect(page.getByTestId("admin-user")).toBeVisible();
}
