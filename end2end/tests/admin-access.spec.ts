// The admin interface's door: superusers get in (pages hydrate, server functions answer),
// signed-in non-superusers get a 403 page, anonymous visitors are sent to log in first and come
// back; server functions refuse callers without the CSRF header.
import { expect, login, test, createUser, BASE_URL } from "./fixtures";
import { gotoAdmin, openAdmin } from "./admin";

test("a superuser opens the admin interface and its flow list", async ({ page }) => {
  await openAdmin(page, "/if/admin/flows/");
  await expect(page.getByRole("heading", { name: "Flows" })).toBeVisible();
  await expect(page.getByTestId("flow-list")).toContainText("default-authentication-flow");
  // Client-side search goes through a server function.
  await page.getByLabel("Search").fill("invalidation");
  await expect(page.getByTestId("flow-list")).toContainText("default-invalidation-flow");
  await expect(page.getByTestId("flow-list")).not.toContainText("default-authentication-flow");
});

test("an anonymous visitor is sent to log in and comes back", async ({ page }) => {
  await page.goto("/if/admin/flows/");
  await expect(page).toHaveURL(/\/if\/flow\/default-authentication-flow\//);
  await page.locator('input[name="uid_field"]').fill("akadmin");
  await page.locator('[data-component="ak-stage-identification"] button[type="submit"]').click();
  await page.locator('input[name="password"]').fill(process.env.KEYFLOW_TEST_PASSWORD ?? "Akadmin-Pass-123");
  await page.locator('[data-component="ak-stage-password"] button[type="submit"]').click();
  await expect(page).toHaveURL((url) => url.pathname === "/if/admin/flows/");
  await expect(page.getByTestId("flow-list")).toBeVisible();
});

/** Drops the console's report of an answer the test asked for on purpose. */
function expectedRefusal(consoleErrors: string[], status: number): void {
  const rest = consoleErrors.filter((e) => !e.includes(`status of ${status}`));
  consoleErrors.splice(0, consoleErrors.length, ...rest);
}

test("a signed-in user who is not a superuser gets a 403 page", async ({ page, consoleErrors }) => {
  const username = `plain-${Date.now()}`;
  await createUser(username, "Plain-Pass-123456");
  await login(page, { username, password: "Plain-Pass-123456" });
  const response = await page.goto("/if/admin/");
  expect(response?.status()).toBe(403);
  await expect(page.getByTestId("admin-forbidden")).toContainText("Administrators only");
  expectedRefusal(consoleErrors, 403);
});

test("server functions need the session's CSRF token", async ({ page, consoleErrors }) => {
  await openAdmin(page);
  const status = await page.evaluate(async (base) => {
    const r = await fetch(`${base}/api/admin/list`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ collection: "flows/instances", query: [] }),
    });
    return { status: r.status, body: await r.text() };
  }, BASE_URL);
  expect(status.status).toBe(403);
  expect(status.body).toContain("CSRF");
  expectedRefusal(consoleErrors, 403);
});

test("creating a flow with a bad slug shows the field's error, a good one opens the editor", async ({ page }) => {
  await openAdmin(page, "/if/admin/flows/");
  const form = page.getByTestId("create-flow");
  await form.getByLabel("Name").fill("Bad slug");
  await form.getByLabel("Slug").fill("not a slug!");
  await form.getByLabel("Title").fill("Bad");
  await form.getByRole("button", { name: "Create flow" }).click();
  await expect(page.locator("#new-flow-slug-error")).toBeVisible();
  const slug = `ui-made-${Date.now()}`;
  await form.getByLabel("Slug").fill(slug);
  await form.getByRole("button", { name: "Create flow" }).click();
  await expect(page).toHaveURL(new RegExp(`/if/admin/flows/${slug}/$`));
  await expect(page.getByRole("heading", { name: "Flow: Bad slug" })).toBeVisible();
  await gotoAdmin(page, "/if/admin/flows/");
  await expect(page.getByTestId("flow-list")).toContainText(slug);
});
