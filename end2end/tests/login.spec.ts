import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  API_TOKEN,
  LOGOUT_URL,
  ME_URL,
  expect,
  hydrated,
  login,
  openLogin,
  stage,
  submitIdentification,
  submitPassword,
  test,
} from "./fixtures";

test.describe("default authentication flow", () => {
  test("akadmin logs in: identification, password, home shows the user", async ({ page }) => {
    await login(page);
    await hydrated(page);
    const me = await page.request.get(ME_URL);
    expect(me.status()).toBe(200);
    expect((await me.json()).user.username).toBe(ADMIN_USERNAME);
  });

  test("wrong password shows 'Invalid password' and stays on the password stage", async ({ page }) => {
    await openLogin(page);
    await submitIdentification(page, ADMIN_USERNAME);
    await submitPassword(page, "not-the-password");
    const password = stage(page, "ak-stage-password");
    await expect(password.locator('[data-field-error="password"]')).toContainText("Invalid password");
    await expect(password).toBeVisible();
    await expect(password.locator('input[name="password"]')).toBeVisible();
    // still anonymous
    expect((await page.request.get(ME_URL)).status()).toBe(403);
    // and the right password still works from here
    await submitPassword(page, ADMIN_PASSWORD);
    await expect(page.getByTestId("current-user")).toContainText(ADMIN_USERNAME);
  });

  test("unknown user gets the password stage (pretend user), then 'Invalid password'", async ({ page }) => {
    await openLogin(page);
    await submitIdentification(page, "nobody-here-" + Date.now());
    await submitPassword(page, "whatever-Pass-123");
    const password = stage(page, "ak-stage-password");
    await expect(password.locator('[data-field-error="password"]')).toContainText("Invalid password");
    await expect(password).toBeVisible();
    expect((await page.request.get(ME_URL)).status()).toBe(403);
  });

  test("logout: the invalidation flow ends the session", async ({ page }) => {
    await login(page);
    expect((await page.request.get(ME_URL)).status()).toBe(200);
    await page.goto(LOGOUT_URL);
    await page.waitForLoadState("load");
    await expect
      .poll(async () => (await page.request.get(ME_URL)).status(), { timeout: 10_000 })
      .toBe(403);
  });

  test("the bootstrap API token authenticates as akadmin", async ({ request }) => {
    test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
    const me = await request.get(ME_URL, { headers: { Authorization: `Bearer ${API_TOKEN}` } });
    expect(me.status()).toBe(200);
    expect((await me.json()).user.username).toBe(ADMIN_USERNAME);
    const bad = await request.get(ME_URL, { headers: { Authorization: "Bearer wrong-token" } });
    expect(bad.status()).toBe(403);
  });

  // Runs last in this file: five wrong passwords cancel the flow.
  test("the 5th wrong password ends in access denied 'Invalid password'", async ({ page }) => {
    await openLogin(page);
    await submitIdentification(page, ADMIN_USERNAME);
    const password = stage(page, "ak-stage-password");
    for (let attempt = 1; attempt <= 4; attempt++) {
      await submitPassword(page, `wrong-${attempt}`);
      await expect(password.locator('[data-field-error="password"]')).toContainText("Invalid password");
      // Wait for the form to be ready for the next answer.
      await expect(password.locator('input[name="password"]')).toBeEditable();
    }
    await submitPassword(page, "wrong-5");
    const denied = stage(page, "ak-stage-access-denied");
    await expect(denied).toBeVisible();
    await expect(denied).toContainText("Invalid password");
    await expect(stage(page, "ak-stage-password")).toHaveCount(0);
    expect((await page.request.get(ME_URL)).status()).toBe(403);
  });
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("login works with plain HTML forms", async ({ page }) => {
    await login(page, { js: false });
    await expect(page.locator("body[data-hydrated=true]")).toHaveCount(0);
    expect((await page.request.get(ME_URL)).status()).toBe(200);
  });

  test("wrong password is reported without JavaScript", async ({ page }) => {
    await openLogin(page, { js: false });
    await submitIdentification(page, ADMIN_USERNAME);
    await submitPassword(page, "not-the-password");
    const password = stage(page, "ak-stage-password");
    await expect(password.locator('[data-field-error="password"]')).toContainText("Invalid password");
  });
});
