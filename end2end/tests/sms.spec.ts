// The SMS authenticator in the browser, against the fake Twilio (end2end/fakes/sms.py): a new
// user sets up SMS in a set-up flow (a bad number is explained under the field, the code comes
// from the text the fake received), then signs in with a code texted when they ask for it.
import type { Page } from "@playwright/test";

import { applyBlueprint, createUser, expect, fakes, FAKES_URL, hydrated, openLogin, stage, submitIdentification, submitPassword, test } from "./fixtures";

const RUN = Date.now();
const FLOW = `sms-setup-${RUN}`;
const SID = `AC${RUN.toString(16).padStart(32, "0").slice(-32)}`;
const TOKEN = `twilio-token-${RUN}`;
const PASSWORD = "Sms-Tester-Pass-123";
const USERNAME = `sms-e2e-${RUN}`;
// A number of this run's own (the fake records every text; others' runs may share it).
const NUMBER = `+1555${(RUN % 10_000_000).toString().padStart(7, "0")}`;
const SETUP = "ak-stage-authenticator-sms";
const VALIDATE = "ak-stage-authenticator-validate";

type Text = { gateway: string; to: string; body: string; status: number };

/** The code in the latest text the fake accepted for NUMBER, once there are `count` of them. */
async function textedCode(count: number): Promise<string> {
  let texts: Text[] = [];
  await expect
    .poll(async () => {
      texts = ((await fakes("GET", "/_fake/sms/messages")) as Text[]).filter((t) => t.to === NUMBER && t.status === 201);
      return texts.length;
    })
    .toBe(count);
  const code = /: (\d{6})$/.exec(texts[texts.length - 1].body)?.[1];
  expect(code, texts[texts.length - 1].body).toBeTruthy();
  return code!;
}

async function typeCode(page: Page, component: string, code: string) {
  const form = stage(page, component);
  await form.locator('input[name="code"]').fill(code);
  await form.getByRole("button", { name: "Continue" }).click();
}

test.beforeAll(async () => {
  test.skip(!FAKES_URL, "KEYFLOW_FAKES_URL not set (no fake SMS gateway)");
  await fakes("POST", "/_fake/sms/twilio/accounts", { sid: SID, token: TOKEN });
  await applyBlueprint(`
version: 1
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: ${FLOW}}
    attrs: {name: ${FLOW}, title: Set up SMS, designation: stage_configuration, authentication: require_authenticated}
  - model: authentik_stages_authenticator_sms.authenticatorsmsstage
    id: sms
    identifiers: {name: ${FLOW}}
    attrs: {provider: twilio, from_number: "+15550001111", account_sid: ${SID}, auth: ${TOKEN}}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf sms, order: 0}
`);
  await createUser(USERNAME, PASSWORD);
});

test.describe.configure({ mode: "serial" });

test("setting up SMS: the number is checked, then the texted code confirms it", async ({ page }) => {
  await openLogin(page);
  await submitIdentification(page, USERNAME);
  await submitPassword(page, PASSWORD);
  await expect(page).toHaveURL((url) => url.pathname === "/");

  await page.goto(`/if/flow/${FLOW}/`);
  await hydrated(page);
  const setup = stage(page, SETUP);
  await setup.getByLabel("Phone number").fill("555 0100");
  await setup.getByRole("button", { name: "Send code" }).click();
  await expect(setup.locator('[data-field-error="phone_number"]')).toContainText("international format");
  await setup.getByLabel("Phone number").fill(NUMBER);
  await setup.getByRole("button", { name: "Send code" }).click();
  await expect(setup.getByTestId("sms-code-help")).toBeVisible();
  const code = await textedCode(1);
  await typeCode(page, SETUP, code);
  await expect(page).toHaveURL((url) => url.pathname === "/");
});

test("signing in with a code texted on request", async ({ page }) => {
  await openLogin(page);
  await submitIdentification(page, USERNAME);
  await submitPassword(page, PASSWORD);
  const validate = stage(page, VALIDATE);
  await expect(validate).toBeVisible();
  await expect(validate.getByTestId("sms-code-help")).toHaveText("We can text a code to your phone.");
  await validate.getByTestId("sms-send-code").click();
  await expect(validate.getByTestId("sms-code-help")).toHaveText("We texted a code to your phone.");
  const code = await textedCode(2);
  await typeCode(page, VALIDATE, code);
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await expect(page.getByTestId("current-user")).toContainText(USERNAME);
});
