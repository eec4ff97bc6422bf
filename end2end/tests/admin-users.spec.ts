// The admin's user pages: create an account, set its password (the person then logs in),
// search, deactivate it (which ends the person's session at once), delete it.
import {
  adminApi,
  API_TOKEN,
  expect,
  hydrated,
  login,
  ME_URL,
  test,
} from "./fixtures";
import { gotoAdmin, openAdmin } from "./admin";

const RUN = Date.now();

test.beforeAll(() => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
});

test("an account made in the UI logs in; deactivating it ends the session; delete", async ({ page, browser }) => {
  const username = `ui-user-${RUN}`;
  const password = `Ui-User-Pass-${RUN}`;
  await openAdmin(page, "/if/admin/users/");
  const create = page.getByTestId("object-form");
  await create.getByLabel("Username").fill(username);
  await create.getByLabel("Name", { exact: true }).fill("UI User");
  await create.getByLabel("Email").fill(`${username}@example.com`);
  await create.getByRole("button", { name: "Create user" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/users\/\d+\/$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: `User: ${username}` })).toBeVisible();

  // A username that is taken is refused under the field.
  await gotoAdmin(page, "/if/admin/users/");
  await page.getByTestId("object-form").getByLabel("Username").fill(username);
  await page.getByTestId("object-form").getByLabel("Name", { exact: true }).fill("Twin");
  await page.getByTestId("object-form").getByRole("button", { name: "Create user" }).click();
  await expect(page.locator("#new-user-username-error")).toBeVisible();

  // Search finds it.
  await page.getByLabel("Search").fill(username);
  await expect(page.getByTestId("user-list").getByRole("link")).toHaveText([username]);
  await page.getByTestId("user-list").getByRole("link", { name: username }).click();
  await hydrated(page);

  // Passwords that differ are caught before sending; then the password is set.
  const setPassword = page.getByTestId("set-password");
  await setPassword.getByLabel("New password").fill(password);
  await setPassword.getByLabel("Repeat it").fill(`${password}x`);
  await setPassword.getByRole("button", { name: "Set password" }).click();
  await expect(page.locator("#set-password-repeat-error")).toHaveText("The passwords differ.");
  await setPassword.getByLabel("Repeat it").fill(password);
  await setPassword.getByRole("button", { name: "Set password" }).click();
  await expect(setPassword.getByRole("status")).toContainText("Password set.");

  // The person logs in, in their own browser.
  const context = await browser.newContext();
  try {
    const person = await context.newPage();
    await login(person, { username, password });
    expect((await person.request.get(ME_URL)).status()).toBe(200);

    // Switched off in the admin UI: their session ends at once.
    const account = page.getByTestId("object-form");
    await account.getByLabel("Active").uncheck();
    await account.getByRole("button", { name: "Save" }).click();
    await expect(account.getByRole("status")).toHaveText("Saved.");
    expect((await person.request.get(ME_URL)).status()).toBe(403);
  } finally {
    await context.close();
  }
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("object-form").getByLabel("Active")).not.toBeChecked();

  // Delete, after confirming.
  const pk = page.url().split("/").filter(Boolean).pop();
  await page.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/users\/$/);
  const api = await adminApi();
  expect((await api.get(`/api/v3/core/users/${pk}/`)).status()).toBe(404);
});
