// The Prompt stage in the browser: a flow whose prompt stage holds the common field types, then
// a second prompt stage that echoes what the first stored (through an initial-value
// expression). Filled with the keyboard, with and without JavaScript. The flow comes from one
// blueprint applied through the admin API.
import { request as playwrightRequest, type Page } from "@playwright/test";

import { API_TOKEN, expect, hydrated, stage, test } from "./fixtures";

const BASE = process.env.KEYFLOW_BASE_URL ?? "http://localhost:3000";
const RUN = Date.now();
const FLOW = `prompt-e2e-${RUN}`;

const BLUEPRINT = `
version: 1
metadata:
  name: keyflow e2e - prompt ${RUN}
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: ${FLOW}}
    attrs: {name: Prompt e2e, title: Prompt e2e, designation: enrollment, authentication: none}
  - model: authentik_stages_prompt.prompt
    id: name
    identifiers: {name: prompt-e2e-name-${RUN}}
    attrs: {field_key: name, label: Name, type: text, order: 0, sub_text: As on your passport}
  - model: authentik_stages_prompt.prompt
    id: email
    identifiers: {name: prompt-e2e-email-${RUN}}
    attrs: {field_key: email, label: Email, type: email, order: 1}
  - model: authentik_stages_prompt.prompt
    id: password
    identifiers: {name: prompt-e2e-password-${RUN}}
    attrs: {field_key: password, label: Password, type: password, order: 2}
  - model: authentik_stages_prompt.prompt
    id: password-repeat
    identifiers: {name: prompt-e2e-password-repeat-${RUN}}
    attrs: {field_key: password_repeat, label: Password (repeat), type: password, order: 3}
  - model: authentik_stages_prompt.prompt
    id: age
    identifiers: {name: prompt-e2e-age-${RUN}}
    attrs: {field_key: age, label: Age, type: number, order: 4}
  - model: authentik_stages_prompt.prompt
    id: terms
    identifiers: {name: prompt-e2e-terms-${RUN}}
    attrs: {field_key: terms, label: I agree, type: checkbox, order: 5}
  - model: authentik_stages_prompt.prompt
    id: color
    identifiers: {name: prompt-e2e-color-${RUN}}
    attrs:
      field_key: color
      label: Color
      type: radio-button-group
      order: 6
      placeholder_expression: true
      placeholder: 'return ["red", {"label": "Green", "value": "green"}]'
  - model: authentik_stages_prompt.prompt
    id: size
    identifiers: {name: prompt-e2e-size-${RUN}}
    attrs:
      field_key: size
      label: Size
      type: dropdown
      order: 7
      placeholder_expression: true
      placeholder: 'return ("S", "M", "L")'
  - model: authentik_stages_prompt.prompt
    id: avatar
    identifiers: {name: prompt-e2e-avatar-${RUN}}
    attrs: {field_key: avatar, label: Avatar, type: file, required: false, order: 8}
  - model: authentik_stages_prompt.promptstage
    id: first
    identifiers: {name: prompt-e2e-first-${RUN}}
    attrs:
      fields: [!KeyOf name, !KeyOf email, !KeyOf password, !KeyOf password-repeat, !KeyOf age,
               !KeyOf terms, !KeyOf color, !KeyOf size, !KeyOf avatar]
  - model: authentik_stages_prompt.prompt
    id: summary
    identifiers: {name: prompt-e2e-summary-${RUN}}
    attrs:
      field_key: summary
      label: Summary
      type: text_read_only
      order: 0
      initial_value_expression: true
      initial_value: >-
        return "/".join([prompt_context["name"], str(prompt_context["age"]),
        str(prompt_context.get("terms", False)), prompt_context["color"], prompt_context["size"],
        prompt_context.get("avatar", "")[:22]])
  - model: authentik_stages_prompt.promptstage
    id: second
    identifiers: {name: prompt-e2e-second-${RUN}}
    attrs:
      fields: [!KeyOf summary]
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf first, order: 10}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf second, order: 20}
`;

test.beforeAll(async () => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
  const api = await playwrightRequest.newContext({
    baseURL: BASE,
    extraHTTPHeaders: { Authorization: `Bearer ${API_TOKEN}` },
  });
  const applied = await api.post("/api/v3/managed/blueprints/apply/", {
    data: { content: BLUEPRINT },
  });
  expect(applied.status(), await applied.text()).toBeLessThan(300);
  await api.dispose();
});

/** Fills the first stage with the keyboard only (Tab between fields, Space / arrows to pick). */
async function fillWithKeyboard(page: Page, password_repeat: string): Promise<void> {
  const form = stage(page, "ak-stage-prompt");
  await form.getByLabel("Name").focus();
  await page.keyboard.type("Ann");
  await page.keyboard.press("Tab");
  await page.keyboard.type("ann@example.com");
  await page.keyboard.press("Tab");
  await page.keyboard.type("Correct-Horse-9");
  await page.keyboard.press("Tab");
  await page.keyboard.type(password_repeat);
  await page.keyboard.press("Tab");
  await page.keyboard.type("30");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Space");
  await expect(form.getByLabel("I agree")).toBeChecked();
  await form.getByLabel("Green").check();
  await form.getByLabel("Size").selectOption("M");
}

test.describe("prompt stage with JavaScript", () => {
  test("renders every input with its label and hint", async ({ page }) => {
    await page.goto(`/if/flow/${FLOW}/`);
    await hydrated(page);
    const form = stage(page, "ak-stage-prompt");
    await expect(form).toBeVisible();
    await expect(form.getByLabel("Name")).toHaveAttribute("type", "text");
    await expect(form.getByLabel("Name")).toHaveAccessibleDescription("As on your passport");
    await expect(form.getByLabel("Email")).toHaveAttribute("type", "email");
    await expect(form.getByLabel("Password", { exact: true })).toHaveAttribute("type", "password");
    await expect(form.getByLabel("Age")).toHaveAttribute("type", "number");
    await expect(form.getByLabel("I agree")).toHaveAttribute("type", "checkbox");
    await expect(form.getByRole("radio")).toHaveCount(2);
    await expect(form.getByLabel("Size").locator("option")).toHaveText(["S", "M", "L"]);
    await expect(form.getByLabel("Avatar")).toHaveAttribute("type", "file");
  });

  test("mismatched passwords are reported, then a good answer goes on", async ({ page }) => {
    await page.goto(`/if/flow/${FLOW}/`);
    await hydrated(page);
    await fillWithKeyboard(page, "Other-Horse-9");
    await page.keyboard.press("Enter");
    const form = stage(page, "ak-stage-prompt");
    await expect(form.locator('[data-field-error="non_field_errors"]')).toHaveText(
      "Passwords don't match.",
    );

    await fillWithKeyboard(page, "Correct-Horse-9");
    await form.getByLabel("Avatar").setInputFiles({
      name: "a.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("hi"),
    });
    await expect(form.locator('input[type="hidden"][name="avatar"]')).toHaveValue(
      /^data:text\/plain;base64,/,
    );
    await form.locator('button[type="submit"]').click();
    await expect(stage(page, "ak-stage-prompt").getByLabel("Summary")).toHaveValue(
      "Ann/30/True/green/M/data:text/plain;base64",
    );
  });
});

test.describe("prompt stage without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the plain form posts typed values and shows errors", async ({ page }) => {
    await page.goto(`/if/flow/${FLOW}/`);
    const form = stage(page, "ak-stage-prompt");
    await form.getByLabel("Name").fill("Ann");
    await form.getByLabel("Email").fill("ann@example.com");
    await form.getByLabel("Password", { exact: true }).fill("Correct-Horse-9");
    await form.getByLabel("Password (repeat)").fill("Other-Horse-9");
    await form.getByLabel("Age").fill("30");
    await form.getByLabel("Green").check();
    await form.locator('button[type="submit"]').click();
    await expect(page.locator('[data-field-error="non_field_errors"]')).toHaveText(
      "Passwords don't match.",
    );

    const again = stage(page, "ak-stage-prompt");
    await again.getByLabel("Name").fill("Ann");
    await again.getByLabel("Email").fill("ann@example.com");
    await again.getByLabel("Password", { exact: true }).fill("Correct-Horse-9");
    await again.getByLabel("Password (repeat)").fill("Correct-Horse-9");
    await again.getByLabel("Age").fill("30");
    await again.getByLabel("I agree").check();
    await again.getByLabel("Size").selectOption("L");
    await again.locator('button[type="submit"]').click();
    await expect(stage(page, "ak-stage-prompt").getByLabel("Summary")).toHaveValue(
      "Ann/30/True/red/L/",
    );
  });
});
