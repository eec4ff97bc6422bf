// Sign-up by invitation in the browser: keyflow's example blueprint
// (flows-enrollment-invitation.yaml, under a slug of this run's own) and invitations created
// through the admin API (`/api/v3/stages/invitation/invitations/`). The invitation's fixed data
// pre-fills the form and ends up on the account; a single-use invitation works once (and is
// spent only when the flow completes); an expired one is refused.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "@playwright/test";

import { API_TOKEN, ME_URL, adminApi, applyBlueprint, expect, findUser, hydrated, stage, test } from "./fixtures";

const RUN = Date.now();
const EXAMPLE = path.resolve(__dirname, "../../server/blueprints/example/flows-enrollment-invitation.yaml");
const FLOW = `keyflow-enrollment-invitation-${RUN}`;
const INVITATIONS = "/api/v3/stages/invitation/invitations/";
const PASSWORD = "Quartz-Meadow-Lantern-81";
const INVALID_INVITE = "Invalid invite/invite not found";

test.beforeAll(async () => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
  const example = readFileSync(EXAMPLE, "utf8").replaceAll("keyflow-enrollment-invitation", FLOW);
  await applyBlueprint(example);
});

/** Creates an invitation through the admin API; returns its token (the pk). */
async function invite(body: Record<string, unknown>): Promise<string> {
  const api = await adminApi();
  try {
    const created = await api.post(INVITATIONS, { data: body });
    expect(created.status(), await created.text()).toBe(201);
    const json = await created.json();
    expect(json.fixed_data).toEqual(body.fixed_data ?? {});
    return json.pk as string;
  } finally {
    await api.dispose();
  }
}

async function invitationStatus(token: string): Promise<number> {
  const api = await adminApi();
  try {
    return (await api.get(`${INVITATIONS}${token}/`)).status();
  } finally {
    await api.dispose();
  }
}

/** The first sign-up page (username and password twice). */
async function fillAccount(page: Page, username: string): Promise<void> {
  const account = stage(page, "ak-stage-prompt");
  await account.getByLabel("Username", { exact: true }).fill(username);
  await account.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await account.getByLabel("Password (repeat)", { exact: true }).fill(PASSWORD);
  await account.getByRole("button", { name: "Continue" }).click();
}

async function expectRefused(page: Page): Promise<void> {
  await expect(stage(page, "ak-stage-access-denied")).toBeVisible();
  await expect(page.getByTestId("error-message")).toHaveText(INVALID_INVITE);
  expect((await page.request.get(ME_URL)).status()).toBe(403);
}

test("a single-use invitation: fixed data shown and applied, enrolled and signed in, then spent", async ({
  page,
  browser,
}) => {
  const username = `invited-e2e-${RUN}`;
  const email = `${username}@example.com`;
  const token = await invite({
    name: `e2e-invite-${RUN}`,
    single_use: true,
    fixed_data: { name: "Invited Person", email },
  });
  const link = `/if/flow/${FLOW}/?itoken=${token}`;

  // Opening the link (and leaving) spends nothing.
  const peek = await browser.newContext();
  const peekPage = await peek.newPage();
  await peekPage.goto(link);
  await hydrated(peekPage);
  await expect(stage(peekPage, "ak-stage-prompt")).toBeVisible();
  await peek.close();
  expect(await invitationStatus(token)).toBe(200);

  await page.goto(link);
  await hydrated(page);
  await fillAccount(page, username);
  const person = stage(page, "ak-stage-prompt");
  await expect(person.getByLabel("Name", { exact: true })).toHaveValue("Invited Person");
  await expect(person.getByLabel("Email", { exact: true })).toHaveValue(email);
  await person.getByRole("button", { name: "Continue" }).click();
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await expect(page.getByTestId("current-user")).toContainText(username);
  const created = await findUser(username);
  expect(created?.name).toBe("Invited Person");
  expect(created?.email).toBe(email);
  expect(created?.is_active).toBe(true);

  // Spent: gone from the API, and the same link is refused in another browser.
  expect(await invitationStatus(token)).toBe(404);
  const second = await browser.newContext();
  const secondPage = await second.newPage();
  await secondPage.goto(link);
  await hydrated(secondPage);
  await expectRefused(secondPage);
  await second.close();
});

test("an expired invitation is refused", async ({ page }) => {
  const token = await invite({
    name: `e2e-expired-${RUN}`,
    single_use: false,
    expires: new Date(Date.now() - 60_000).toISOString(),
    fixed_data: { name: "Too Late" },
  });
  await page.goto(`/if/flow/${FLOW}/?itoken=${token}`);
  await hydrated(page);
  await expectRefused(page);
  // Without an invitation at all, this flow is refused the same way.
  await page.goto(`/if/flow/${FLOW}/`);
  await hydrated(page);
  await expectRefused(page);
});
