// The admin's invitations page: create an invitation (fixed data, single use, flow), copy its
// link, follow it in another browser (the fixed data pre-fills the sign-up), delete it.
import { readFileSync } from "node:fs";
import path from "node:path";

import { adminApi, API_TOKEN, applyBlueprint, expect, hydrated, stage, test } from "./fixtures";
import { openAdmin } from "./admin";

const RUN = Date.now();
const EXAMPLE = path.resolve(__dirname, "../../server/blueprints/example/flows-enrollment-invitation.yaml");
const FLOW = `admin-invitation-${RUN}`;

test.beforeAll(async () => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
  const example = readFileSync(EXAMPLE, "utf8").replaceAll("keyflow-enrollment-invitation", FLOW);
  await applyBlueprint(example);
});

test("an invitation made in the UI: its copied link opens the flow with the fixed data", async ({ page, browser, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  const name = `ui-invite-${RUN}`;
  await openAdmin(page, "/if/admin/invitations/");
  const form = page.getByTestId("object-form");
  await form.getByLabel("Name", { exact: true }).fill(name);
  await form.getByLabel("Fixed data (JSON)").fill("{not json");
  await form.getByLabel("Flow", { exact: true }).selectOption({ label: `Enrollment by invitation (${FLOW})` });
  await form.getByRole("button", { name: "Create invitation" }).click();
  await expect(page.locator("#new-invitation-fixed_data-error")).toContainText("dictionary");
  await form.getByLabel("Fixed data (JSON)").fill('{"name": "UI Invited"}');
  await form.getByLabel("Single use").check();
  await form.getByRole("button", { name: "Create invitation" }).click();
  await expect(form.getByRole("status")).toHaveText("Created.");

  const row = page.getByTestId("invitation").filter({ hasText: name });
  await expect(row).toContainText("Single use");
  await expect(row).toContainText("fixed: name");
  const link = await row.getByLabel(`Link of ${name}`).inputValue();
  expect(link).toMatch(new RegExp(`^http://[^/]+/if/flow/${FLOW}/\\?itoken=[0-9a-f-]{36}$`));
  await row.getByRole("button", { name: "Copy link" }).click();
  await expect(row.getByRole("status")).toHaveText("Copied.");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);

  // The link, in another browser: the sign-up with the fixed data filled in.
  const visitor = await browser.newContext();
  try {
    const person = await visitor.newPage();
    await person.goto(link);
    await hydrated(person);
    const account = stage(person, "ak-stage-prompt");
    await account.getByLabel("Username", { exact: true }).fill(`ui-invited-${RUN}`);
    await account.getByLabel("Password", { exact: true }).fill("Quartz-Meadow-Lantern-81");
    await account.getByLabel("Password (repeat)", { exact: true }).fill("Quartz-Meadow-Lantern-81");
    await account.getByRole("button", { name: "Continue" }).click();
    await expect(stage(person, "ak-stage-prompt").getByLabel("Name", { exact: true })).toHaveValue("UI Invited");
  } finally {
    await visitor.close();
  }

  // Deleted after confirming: gone from the list and the API.
  const token = link.split("itoken=")[1];
  await row.getByRole("button", { name: "Delete" }).click();
  await row.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page.getByTestId("invitation").filter({ hasText: name })).toHaveCount(0);
  const api = await adminApi();
  expect((await api.get(`/api/v3/stages/invitation/invitations/${token}/`)).status()).toBe(404);
});
