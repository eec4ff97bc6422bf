// The admin screenshots in the README: the flow list, the flow editor's diagram and the
// simulator, on a small demo flow (identification → password → login, with a policy that
// gates the password stage). Run by hand; see playwright.config.ts here.
import * as path from "node:path";
import { applyBlueprint, expect, test } from "../tests/fixtures";
import { openAdmin } from "../tests/admin";

const SLUG = "readme-demo-login";
const shot = (name: string) => path.join(__dirname, `${name}.png`);

test.use({ viewport: { width: 1280, height: 860 } });

test.beforeAll(async () => {
  await applyBlueprint(`
version: 1
metadata:
  name: keyflow README demo
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: ${SLUG}}
    attrs: {name: Demo login, title: Welcome back, designation: authentication}
  - model: authentik_stages_identification.identificationstage
    id: ident
    identifiers: {name: demo-identification}
    attrs: {user_fields: [username, email]}
  - model: authentik_stages_password.passwordstage
    id: password
    identifiers: {name: demo-password}
    attrs: {backends: [authentik.core.auth.InbuiltBackend]}
  - model: authentik_stages_user_login.userloginstage
    id: login
    identifiers: {name: demo-login}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf ident, order: 10}
  - model: authentik_flows.flowstagebinding
    id: password-binding
    identifiers: {target: !KeyOf flow, stage: !KeyOf password, order: 20}
    attrs: {re_evaluate_policies: true}
  - model: authentik_policies_expression.expressionpolicy
    id: internal-only
    identifiers: {name: demo-skip-password-on-intranet}
    attrs: {expression: "return not ak_client_ip.is_private"}
  - model: authentik_policies.policybinding
    identifiers: {policy: !KeyOf internal-only, target: !KeyOf password-binding, order: 0}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf login, order: 100}
`);
});

test("flow list", async ({ page }) => {
  await openAdmin(page, "/if/admin/flows/");
  await expect(page.getByRole("link", { name: "Demo login" })).toBeVisible();
  await page.screenshot({ path: shot("admin-flows"), fullPage: false });
});

test("flow editor with its diagram", async ({ page }) => {
  await openAdmin(page, `/if/admin/flows/${SLUG}/diagram/`);
  await expect(page.locator('[data-testid="diagram-node"][data-kind="gate"]')).toHaveCount(1);
  await page.screenshot({ path: shot("admin-diagram"), fullPage: true });
});

test("simulator", async ({ page }) => {
  await openAdmin(page, `/if/admin/flows/${SLUG}/simulate/`);
  await page.getByLabel(/^User/).fill("akadmin");
  await page.getByRole("button", { name: "Simulate" }).click();
  await expect(page.getByTestId("simulation-outcome")).toBeVisible();
  await page.screenshot({ path: shot("admin-simulator"), fullPage: true });
});
