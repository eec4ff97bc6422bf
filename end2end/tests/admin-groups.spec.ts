// The admin's group pages: create a group with a parent and members in the UI; a superuser
// group lets its members (and members of groups under it) into the admin interface; delete.
import { adminApi, API_TOKEN, createUser, expect, hydrated, login, test } from "./fixtures";
import { gotoAdmin, openAdmin } from "./admin";

const RUN = Date.now();

test.beforeAll(() => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
});

test("groups with a parent and members; a superuser parent opens the admin to its members", async ({ page, browser }) => {
  const username = `grouped-${RUN}`;
  const password = `Grouped-Pass-${RUN}`;
  await createUser(username, password);
  await openAdmin(page, "/if/admin/groups/");

  // The parent: superuser rights, no members.
  let form = page.getByTestId("object-form");
  await form.getByLabel("Name", { exact: true }).fill(`admins-${RUN}`);
  await form.getByLabel("Members are superusers").check();
  await form.getByRole("button", { name: "Create group" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/groups\/[0-9a-f-]{36}\/$/);
  await hydrated(page);

  // The child: under the parent, with the user as member.
  await gotoAdmin(page, "/if/admin/groups/");
  form = page.getByTestId("object-form");
  await form.getByLabel("Name", { exact: true }).fill(`helpers-${RUN}`);
  await form.getByRole("group", { name: "Parent" }).getByLabel(`admins-${RUN}`).check();
  await form.getByRole("group", { name: "Members" }).getByLabel(new RegExp(`^${username}`)).check();
  await form.getByRole("button", { name: "Create group" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/groups\/[0-9a-f-]{36}\/$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: `Group: helpers-${RUN}` })).toBeVisible();
  const edit = page.getByTestId("object-form");
  await expect(edit.getByRole("group", { name: "Members" }).getByLabel(new RegExp(`^${username}`))).toBeChecked();
  // A group is not offered as its own parent.
  await expect(edit.getByRole("group", { name: "Parent" }).getByLabel(`helpers-${RUN}`)).toHaveCount(0);

  // The member now counts as a superuser: the admin interface opens for them.
  const context = await browser.newContext();
  try {
    const member = await context.newPage();
    await login(member, { username, password });
    await member.goto("/if/admin/");
    await hydrated(member);
    await expect(member.getByTestId("admin-user")).toHaveText(username);

    // Taken out of the group, they are not any more.
    await edit.getByRole("group", { name: "Members" }).getByLabel(new RegExp(`^${username}`)).uncheck();
    await edit.getByRole("button", { name: "Save" }).click();
    await expect(edit.getByRole("status")).toHaveText("Saved.");
    const refused = await member.goto("/if/admin/");
    expect(refused?.status()).toBe(403);
  } finally {
    await context.close();
  }

  // The list shows the hierarchy; delete the child after confirming.
  await gotoAdmin(page, "/if/admin/groups/");
  await page.getByLabel("Search").fill(`helpers-${RUN}`);
  await expect(page.getByTestId("group-list").locator("tbody tr")).toHaveCount(1);
  await expect(page.getByTestId("group-list").locator("tbody tr td").nth(1)).toHaveText(`admins-${RUN}`);
  await page.getByTestId("group-list").getByRole("link", { name: `helpers-${RUN}` }).click();
  await hydrated(page);
  const pk = page.url().split("/").filter(Boolean).pop();
  await page.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/groups\/$/);
  const api = await adminApi();
  expect((await api.get(`/api/v3/core/groups/${pk}/`)).status()).toBe(404);
});
