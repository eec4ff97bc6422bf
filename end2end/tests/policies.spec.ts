// Policies end to end: a flow whose deny stage is bound to a group, so members of that group
// (directly or through a child group) are refused after identifying and everyone else goes on
// to the password stage. The flow, stages, groups, users and the group binding come from one
// blueprint applied through the admin API.
import { request as playwrightRequest, type APIRequestContext, type Page } from "@playwright/test";

import { API_TOKEN, expect, hydrated, stage, test } from "./fixtures";

const BASE = process.env.KEYFLOW_BASE_URL ?? "http://localhost:3000";
const RUN = Date.now();
const FLOW = `policies-e2e-gated-${RUN}`;
const MEMBER = `policies-e2e-member-${RUN}`;
const OUTSIDER = `policies-e2e-outsider-${RUN}`;
const DENY_MESSAGE = "Members of this group may not sign in here.";

const BLUEPRINT = `
version: 1
metadata:
  name: keyflow e2e - deny by group ${RUN}
entries:
  - model: authentik_core.group
    id: blocked
    identifiers: {name: policies-e2e-blocked-${RUN}}
  - model: authentik_core.group
    id: contractors
    identifiers: {name: policies-e2e-contractors-${RUN}}
    attrs: {parent: !KeyOf blocked}
  - model: authentik_core.user
    identifiers: {username: ${MEMBER}}
    attrs: {name: Member, email: ${MEMBER}@example.com, groups: [!KeyOf contractors]}
  - model: authentik_core.user
    identifiers: {username: ${OUTSIDER}}
    attrs: {name: Outsider, email: ${OUTSIDER}@example.com}

  - model: authentik_stages_identification.identificationstage
    id: identification
    identifiers: {name: policies-e2e-identification-${RUN}}
    attrs: {user_fields: [username], pretend_user_exists: false}
  - model: authentik_stages_deny.denystage
    id: deny
    identifiers: {name: policies-e2e-deny-${RUN}}
    attrs: {deny_message: "${DENY_MESSAGE}"}
  - model: authentik_stages_password.passwordstage
    id: password
    identifiers: {name: policies-e2e-password-${RUN}}
    attrs: {backends: [authentik.core.auth.InbuiltBackend]}

  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: ${FLOW}}
    attrs: {name: Policies e2e, title: Policies e2e, designation: authentication, authentication: none}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf identification, order: 10}
  - model: authentik_flows.flowstagebinding
    id: deny-binding
    identifiers: {target: !KeyOf flow, stage: !KeyOf deny, order: 20}
    attrs: {evaluate_on_plan: false, re_evaluate_policies: true}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf password, order: 30}
  - model: authentik_policies.policybinding
    identifiers: {target: !KeyOf deny-binding, group: !KeyOf blocked, order: 0}
`;

async function admin(): Promise<APIRequestContext> {
  return playwrightRequest.newContext({
    baseURL: BASE,
    extraHTTPHeaders: { Authorization: `Bearer ${API_TOKEN}` },
  });
}

async function identify(page: Page, username: string): Promise<void> {
  await page.goto(`/if/flow/${FLOW}/`);
  await hydrated(page);
  const form = stage(page, "ak-stage-identification");
  await expect(form).toBeVisible();
  await form.locator('input[name="uid_field"]').fill(username);
  await form.locator('button[type="submit"]').click();
}

test.describe("deny stage bound to a group", () => {
  test.beforeAll(async () => {
    test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
    const api = await admin();
    const applied = await api.post("/api/v3/managed/blueprints/apply/", {
      data: { content: BLUEPRINT },
    });
    expect(applied.status(), await applied.text()).toBeLessThan(300);
    await api.dispose();
  });

  test("a member of a child of the bound group is denied with the stage's message", async ({ page }) => {
    await identify(page, MEMBER);
    const denied = stage(page, "ak-stage-access-denied");
    await expect(denied).toBeVisible();
    await expect(denied.getByTestId("error-message")).toHaveText(DENY_MESSAGE);
    await expect(stage(page, "ak-stage-password")).toHaveCount(0);
  });

  test("someone outside the group goes on to the password stage", async ({ page }) => {
    await identify(page, OUTSIDER);
    await expect(stage(page, "ak-stage-password")).toBeVisible();
    await expect(stage(page, "ak-stage-access-denied")).toHaveCount(0);
  });
});
