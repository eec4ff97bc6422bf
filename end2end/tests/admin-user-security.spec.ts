// The user page's MFA devices and sessions: the admin sees the person's recovery-code device and
// their signed-in session, revokes the session (the person is signed out at once) and deletes
// the device (it is gone from the person's own device list); a recovery link made on the user
// page leads to a new password, once; one sent by email arrives at the account's address.
import {
  API_TOKEN,
  createUser,
  expect,
  flowLink,
  hydrated,
  login,
  MAIL_DIR,
  ME_URL,
  nextMail,
  stage,
  test,
} from "./fixtures";
import { openAdmin } from "./admin";

const RUN = Date.now();
const STATIC_SETUP = "/if/flow/default-authenticator-static-setup/";

test.beforeAll(() => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
});

test("an admin sees a user's device and session, revokes the session, deletes the device", async ({ page, browser }) => {
  const username = `sec-user-${RUN}`;
  const password = `Sec-User-Pass-${RUN}`;
  const pk = await createUser(username, password);

  const context = await browser.newContext({ userAgent: `keyflow-e2e-person-${RUN}` });
  try {
    const person = await context.newPage();
    await login(person, { username, password });
    await person.goto(STATIC_SETUP);
    await hydrated(person);
    const setup = stage(person, "ak-stage-authenticator-static");
    await expect(setup.getByTestId("static-codes").locator("code")).toHaveCount(6);
    await setup.locator('button[type="submit"]').click();
    await expect(person).toHaveURL((url) => url.pathname === "/");
    const own = await (await person.request.get("/api/v3/authenticators/all/")).json();
    expect(own).toHaveLength(1);

    await openAdmin(page, `/if/admin/users/${pk}/`);
    const devices = page.getByTestId("device-list");
    await expect(devices.getByTestId("device")).toHaveCount(1);
    await expect(devices.getByTestId("device")).toContainText("Static");

    // The person's session is listed with their browser; revoking it signs them out at once.
    const sessions = page.getByTestId("session-list");
    const theirs = sessions.getByTestId("session").filter({ hasText: `keyflow-e2e-person-${RUN}` });
    await expect(theirs).toHaveCount(1);
    await theirs.getByRole("button", { name: /Revoke the session/ }).click();
    await sessions.getByRole("button", { name: "Yes, revoke" }).click();
    await expect(page.getByTestId("sessions-empty")).toBeVisible();
    expect((await person.request.get(ME_URL)).status()).toBe(403);

    // Deleting the device: gone here, and gone for the person (who logs in again to look).
    await devices.getByRole("button", { name: /Delete the device/ }).click();
    await devices.getByRole("button", { name: "Yes, delete" }).click();
    await expect(page.getByTestId("devices-empty")).toBeVisible();
    await login(person, { username, password });
    expect(await (await person.request.get("/api/v3/authenticators/all/")).json()).toEqual([]);
  } finally {
    await context.close();
  }
});

test("a recovery link made by the admin leads to a new password, once", async ({ page, browser }) => {
  const username = `rec-user-${RUN}`;
  const newPassword = `Rec-New-Pass-${RUN}`;
  const pk = await createUser(username, `Rec-Old-Pass-${RUN}`);
  await openAdmin(page, `/if/admin/users/${pk}/`);
  await page.getByTestId("recovery-link").click();
  const field = page.getByTestId("recovery-url");
  await expect(field).toHaveValue(/\/if\/flow\/default-recovery-flow\/\?flow_token=/);
  const link = await field.inputValue();

  const context = await browser.newContext();
  try {
    const person = await context.newPage();
    await person.goto(link);
    await hydrated(person);
    const consent = stage(person, "ak-stage-consent");
    await expect(consent.getByTestId("consent-header")).toHaveText("Continue to set a new password for your account.");
    await consent.getByRole("button", { name: "Continue" }).click();
    const prompt = stage(person, "ak-stage-prompt");
    await prompt.getByLabel("Password", { exact: true }).fill(newPassword);
    await prompt.getByLabel("Password (repeat)", { exact: true }).fill(newPassword);
    await prompt.getByRole("button", { name: "Continue" }).click();
    await expect(person).toHaveURL((url) => url.pathname === "/");
    expect((await (await person.request.get(ME_URL)).json()).user.username).toBe(username);
  } finally {
    await context.close();
  }
  // Used once: the link now starts the flow from the beginning.
  const again = await browser.newContext();
  try {
    const other = await again.newPage();
    await other.goto(link);
    await hydrated(other);
    await expect(stage(other, "ak-stage-identification")).toBeVisible();
  } finally {
    await again.close();
  }
});

test("a recovery link is emailed from the user page", async ({ page, browser }) => {
  test.skip(!MAIL_DIR, "KEYFLOW_MAIL_DIR not set (no SMTP sink to read)");
  const username = `mail-rec-${RUN}`;
  const pk = await createUser(username, `Mail-Rec-Pass-${RUN}`);
  await openAdmin(page, `/if/admin/users/${pk}/`);
  await page.getByTestId("recovery-email").click();
  await expect(page.getByRole("status").filter({ hasText: "Recovery link sent by email" })).toBeVisible();
  const mail = await nextMail(`${username}@example.com`);
  const link = flowLink(mail, "default-recovery-flow");
  expect(link).toContain("flow_token=");

  const context = await browser.newContext();
  try {
    const person = await context.newPage();
    await person.goto(link);
    await hydrated(person);
    await expect(stage(person, "ak-stage-consent").getByTestId("consent-header")).toHaveText(
      "Continue to set a new password for your account.",
    );
  } finally {
    await context.close();
  }
});
