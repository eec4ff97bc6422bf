// The admin's events page: a failed login shows up in the audit log, found by action, user and
// client IP; a time window after it hides it.
import { API_TOKEN, createUser, expect, openLogin, stage, submitIdentification, test } from "./fixtures";
import { openAdmin } from "./admin";

const RUN = Date.now();

test.beforeAll(() => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
});

test("a failed login is in the audit log, filtered by action, user, IP and time", async ({ page, browser }) => {
  const username = `audited-${RUN}`;
  await createUser(username, `Audited-Pass-${RUN}`);
  const context = await browser.newContext();
  try {
    const person = await context.newPage();
    await openLogin(person);
    await submitIdentification(person, username);
    const password = stage(person, "ak-stage-password");
    await password.locator('input[name="password"]').fill("not-the-password");
    await password.locator('button[type="submit"]').click();
    await expect(person.getByText("Invalid password")).toBeVisible();
  } finally {
    await context.close();
  }

  await openAdmin(page, "/if/admin/events/");
  const filters = page.getByRole("form", { name: "Filter events" });
  await filters.getByLabel("Action").selectOption("login_failed");
  await filters.getByLabel("User").fill(username);
  await filters.getByLabel("User").press("Enter");
  const rows = page.getByTestId("event");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute("data-action", "login_failed");
  await expect(rows.first()).toContainText(username);
  await expect(rows.first()).toContainText("127.0.0.1");

  // The same IP matches; another does not.
  await filters.getByLabel("Client IP").fill("127.0.0.1");
  await filters.getByLabel("Client IP").press("Enter");
  await expect(rows).toHaveCount(1);
  await filters.getByLabel("Client IP").fill("10.9.8.7");
  await filters.getByLabel("Client IP").press("Enter");
  await expect(page.getByTestId("events-empty")).toBeVisible();
  await filters.getByLabel("Client IP").fill("");
  await filters.getByLabel("Client IP").press("Enter");
  await expect(rows).toHaveCount(1);

  // A window starting after it hides it.
  const later = new Date(Date.now() + 60 * 60 * 1000).toISOString();
  await filters.getByLabel("From (UTC)").fill(later);
  await filters.getByLabel("From (UTC)").press("Enter");
  await expect(page.getByTestId("events-empty")).toBeVisible();
});
