// The Prompt stage in the browser: a flow whose first prompt stage holds every field type, then
// a second prompt stage that echoes what the first stored (through initial-value expressions).
// Filled with the keyboard, with and without JavaScript; errors land under their field (or at
// the top of the form for non-field errors); the server's value wins for hidden and read-only
// fields. The flow comes from one blueprint applied through the admin API.
import type { Locator, Page } from "@playwright/test";

import { API_TOKEN, applyBlueprint, expect, hydrated, stage, test } from "./fixtures";

const RUN = Date.now();
const FLOW = `prompt-e2e-${RUN}`;
const PASSWORD = "Correct-Horse-9";

/** `[name, type, extra attrs]` of the first stage, in their order. */
const FIELDS: [string, string, string][] = [
  ["name", "text", "label: Name, sub_text: As on your passport"],
  ["username", "username", "label: Username"],
  ["email", "email", "label: Email"],
  ["password", "password", "label: Password"],
  ["password_repeat", "password", "label: Password (repeat)"],
  ["age", "number", "label: Age"],
  ["terms", "checkbox", "label: I agree, required: false"],
  [
    "color",
    "radio-button-group",
    `label: Color, placeholder_expression: true, placeholder: 'return ["red", {"label": "Green", "value": "green"}]'`,
  ],
  ["size", "dropdown", `label: Size, placeholder_expression: true, placeholder: 'return ("S", "M", "L")'`],
  ["bio", "text_area", "label: About you, required: false, placeholder: A few words"],
  ["born", "date", "label: Born, required: false"],
  ["meeting", "date-time", "label: First meeting, required: false"],
  ["avatar", "file", "label: Avatar, required: false"],
  ["locale", "ak-locale", "label: Language, required: false"],
  ["more", "separator", "label: Fixed by us, sub_text: These come from the server"],
  ["ref", "hidden", "label: Ref, initial_value: from-server"],
  ["note", "static", "label: Note, initial_value: Read this first"],
  ["plan", "text_read_only", "label: Plan, initial_value: Free"],
  ["rules", "text_area_read_only", "label: Rules, initial_value: Be nice"],
];

const BLUEPRINT = `
version: 1
metadata:
  name: keyflow e2e - prompt ${RUN}
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: ${FLOW}}
    attrs: {name: Prompt e2e, title: Prompt e2e, designation: enrollment, authentication: none}
${FIELDS.map(
  ([key, type, attrs], order) => `  - model: authentik_stages_prompt.prompt
    id: ${key}
    identifiers: {name: prompt-e2e-${key}-${RUN}}
    attrs: {field_key: ${key}, type: ${type}, order: ${order}, ${attrs}}`,
).join("\n")}
  - model: authentik_stages_prompt.promptstage
    id: first
    identifiers: {name: prompt-e2e-first-${RUN}}
    attrs:
      fields: [${FIELDS.map(([key]) => `!KeyOf ${key}`).join(", ")}]
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
        return "/".join([prompt_context["name"], prompt_context["username"],
        str(prompt_context["age"]), str(prompt_context.get("terms", False)),
        prompt_context["color"], prompt_context["size"], prompt_context.get("avatar", "")[:22]])
  - model: authentik_stages_prompt.prompt
    id: details
    identifiers: {name: prompt-e2e-details-${RUN}}
    attrs:
      field_key: details
      label: Details
      type: text_area_read_only
      order: 1
      initial_value_expression: true
      initial_value: >-
        return "|".join([prompt_context.get("bio", "-"), prompt_context.get("born", "-"),
        prompt_context.get("meeting", "-"), prompt_context.get("locale", "-"),
        prompt_context["ref"], prompt_context["note"], prompt_context["plan"],
        prompt_context["rules"]])
  - model: authentik_stages_prompt.promptstage
    id: second
    identifiers: {name: prompt-e2e-second-${RUN}}
    attrs:
      fields: [!KeyOf summary, !KeyOf details]
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf first, order: 10}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf second, order: 20}
`;

test.beforeAll(async () => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
  await applyBlueprint(BLUEPRINT);
});

const firstStage = (page: Page) => stage(page, "ak-stage-prompt");

/** The second stage's echo of what the first one stored. */
async function expectSummary(page: Page, summary: string, details: string): Promise<void> {
  const echo = firstStage(page);
  await expect(echo.getByLabel("Summary", { exact: true })).toHaveValue(summary);
  await expect(echo.getByLabel("Details", { exact: true })).toHaveValue(details);
}

/**
 * Fills the first stage with the keyboard only: Tab from field to field, Space ticks the box,
 * an arrow key picks a radio button, typing picks an option of a list.
 */
async function fillWithKeyboard(page: Page, username: string, passwordRepeat: string): Promise<void> {
  const form = firstStage(page);
  await form.getByLabel("Name", { exact: true }).focus();
  await page.keyboard.type("Ann");
  await page.keyboard.press("Tab");
  await expect(form.getByLabel("Username", { exact: true })).toBeFocused();
  await page.keyboard.type(username);
  await page.keyboard.press("Tab");
  await page.keyboard.type("ann@example.com");
  await page.keyboard.press("Tab");
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press("Tab");
  await page.keyboard.type(passwordRepeat);
  await page.keyboard.press("Tab");
  await page.keyboard.type("30");
  await page.keyboard.press("Tab");
  await expect(form.getByLabel("I agree", { exact: true })).toBeFocused();
  await page.keyboard.press("Space");
  await expect(form.getByLabel("I agree", { exact: true })).toBeChecked();
  await page.keyboard.press("Tab");
  await expect(form.getByLabel("red", { exact: true })).toBeFocused();
  await page.keyboard.press("ArrowDown");
  await expect(form.getByLabel("Green", { exact: true })).toBeChecked();
  await page.keyboard.press("Tab");
  await expect(form.getByLabel("Size", { exact: true })).toBeFocused();
  await page.keyboard.type("M");
  await expect(form.getByLabel("Size", { exact: true })).toHaveValue("M");
  await page.keyboard.press("Tab");
  await expect(form.getByLabel("About you", { exact: true })).toBeFocused();
  await page.keyboard.type("Likes tea");
}

/** Tabs on to the submit button (it must be reachable by keyboard) and presses Enter on it. */
async function submitWithKeyboard(page: Page): Promise<void> {
  const button = firstStage(page).locator('button[type="submit"]');
  for (let presses = 0; presses < 40; presses++) {
    if (await button.evaluate((el) => el === document.activeElement)) break;
    await page.keyboard.press("Tab");
  }
  await expect(button).toBeFocused();
  await page.keyboard.press("Enter");
}

/** The error list of `field`, inside that field's own box, and the input pointing at it. */
async function expectFieldError(form: Locator, input: Locator, field: string, message: string): Promise<void> {
  const error = form.locator(`.field [data-field-error="${field}"]`);
  await expect(error).toHaveText(message);
  await expect(error).toHaveAttribute("role", "alert");
  await expect(input).toHaveAttribute("aria-invalid", "true");
  await expect(input).toHaveAccessibleDescription(new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  // Under the field: the error's box is the input's box.
  const sameBox = await input.evaluate(
    (el, f) => el.closest(".field")?.querySelector(`[data-field-error="${f}"]`) !== null,
    field,
  );
  expect(sameBox, `error of ${field} under its input`).toBe(true);
}

test.describe("prompt stage with JavaScript", () => {
  test("renders every field type with its input, label and hint", async ({ page }) => {
    await page.goto(`/if/flow/${FLOW}/`);
    await hydrated(page);
    const form = firstStage(page);
    await expect(form).toBeVisible();
    await expect(form.getByLabel("Name", { exact: true })).toHaveAttribute("type", "text");
    await expect(form.getByLabel("Name", { exact: true })).toHaveAccessibleDescription("As on your passport");
    // The first input is focused, so typing can start at once.
    await expect(form.getByLabel("Name", { exact: true })).toBeFocused();
    await expect(form.getByLabel("Username", { exact: true })).toHaveAttribute("autocomplete", "username");
    await expect(form.getByLabel("Email", { exact: true })).toHaveAttribute("type", "email");
    await expect(form.getByLabel("Password", { exact: true })).toHaveAttribute("type", "password");
    await expect(form.getByLabel("Password", { exact: true })).toHaveAttribute("autocomplete", "new-password");
    await expect(form.getByLabel("Age", { exact: true })).toHaveAttribute("type", "number");
    await expect(form.getByLabel("I agree", { exact: true })).toHaveAttribute("type", "checkbox");
    await expect(form.getByRole("group", { name: "Color" }).getByRole("radio")).toHaveCount(2);
    await expect(form.getByLabel("Size", { exact: true }).locator("option")).toHaveText(["S", "M", "L"]);
    await expect(form.getByLabel("About you", { exact: true })).toHaveJSProperty("tagName", "TEXTAREA");
    await expect(form.getByLabel("About you", { exact: true })).toHaveAttribute("placeholder", "A few words");
    await expect(form.getByLabel("Born", { exact: true })).toHaveAttribute("type", "date");
    await expect(form.getByLabel("First meeting", { exact: true })).toHaveAttribute("type", "datetime-local");
    await expect(form.getByLabel("Avatar", { exact: true })).toHaveAttribute("type", "file");
    await expect(form.getByLabel("Language", { exact: true })).toHaveAttribute("autocomplete", "language");
    await expect(form.getByLabel("Language", { exact: true }).locator("option")).toHaveCount(11);
    await expect(form.getByRole("separator")).toContainText("Fixed by us");
    await expect(form.getByRole("separator")).toContainText("These come from the server");
    await expect(form.locator('input[type="hidden"][name="ref"]')).toHaveValue("from-server");
    await expect(form.locator('[data-prompt-type="static"]')).toHaveText("Read this first");
    await expect(form.getByLabel("Plan", { exact: true })).toHaveValue("Free");
    await expect(form.getByLabel("Plan", { exact: true })).not.toBeEditable();
    await expect(form.getByLabel("Rules", { exact: true })).toHaveValue("Be nice");
    await expect(form.getByLabel("Rules", { exact: true })).not.toBeEditable();
    // One control per field that shows one (hidden, static and separator fields have none).
    await expect(form.locator("input:not([type=hidden]), textarea, select")).toHaveCount(17);
  });

  test("errors land under their field, then a good answer goes on", async ({ page }) => {
    const username = `ann-${RUN}-js`;
    await page.goto(`/if/flow/${FLOW}/`);
    await hydrated(page);
    const form = firstStage(page);

    // A taken username is a field error; nothing else is checked until the fields are valid.
    await fillWithKeyboard(page, "akadmin", "Other-Horse-9");
    await submitWithKeyboard(page);
    await expectFieldError(form, form.getByLabel("Username", { exact: true }), "username", "Username is already taken.");
    await expect(form.locator('[data-field-error="non_field_errors"]')).toHaveCount(0);
    // The other fields are not marked, and what was typed stays: only the wrong answer needs
    // fixing.
    await expect(form.getByLabel("Name", { exact: true })).not.toHaveAttribute("aria-invalid", "true");
    await expect(form.getByLabel("Name", { exact: true })).toHaveValue("Ann");
    await expect(form.getByLabel("Age", { exact: true })).toHaveValue("30");
    await expect(form.getByLabel("I agree", { exact: true })).toBeChecked();
    await expect(form.getByLabel("Green", { exact: true })).toBeChecked();
    await expect(form.getByLabel("About you", { exact: true })).toHaveValue("Likes tea");

    await form.getByLabel("Username", { exact: true }).fill(username);
    // Enter in a text box submits the form too.
    await form.getByLabel("Email", { exact: true }).press("Enter");
    await expect(form.locator('[data-field-error="non_field_errors"]')).toHaveText("Passwords don't match.");
    await expect(form.locator('[data-field-error="username"]')).toHaveCount(0);

    await form.getByLabel("Password (repeat)", { exact: true }).focus();
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type(PASSWORD);
    await form.getByLabel("Born", { exact: true }).fill("1990-02-03");
    await form.getByLabel("First meeting", { exact: true }).fill("2024-05-06T07:08");
    await form.getByLabel("Language", { exact: true }).selectOption("de");
    await form.getByLabel("Avatar", { exact: true }).setInputFiles({
      name: "a.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("hi"),
    });
    await expect(form.locator('input[type="hidden"][name="avatar"]')).toHaveValue(/^data:text\/plain;base64,/);
    // What the browser shows as fixed stays fixed: the server's values win.
    await form.locator('input[type="hidden"][name="ref"]').evaluate((el: HTMLInputElement) => (el.value = "forged"));
    await form.getByLabel("Plan", { exact: true }).evaluate((el: HTMLInputElement) => (el.value = "Paid"));
    await form.locator('button[type="submit"]').click();
    await expectSummary(
      page,
      `Ann/${username}/30/True/green/M/data:text/plain;base64`,
      "Likes tea|1990-02-03|2024-05-06T07:08:00Z|de|from-server|Read this first|Free|Be nice",
    );
  });
});

test.describe("prompt stage without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  /** Types the required fields with Playwright's fill (no script runs in the page). */
  async function fillPlain(form: Locator, username: string, passwordRepeat: string): Promise<void> {
    await form.getByLabel("Name", { exact: true }).fill("Ann");
    await form.getByLabel("Username", { exact: true }).fill(username);
    await form.getByLabel("Email", { exact: true }).fill("ann@example.com");
    await form.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await form.getByLabel("Password (repeat)", { exact: true }).fill(passwordRepeat);
    await form.getByLabel("Age", { exact: true }).fill("30");
  }

  test("the plain form posts typed values and shows errors under the fields", async ({ page }) => {
    const username = `ann-${RUN}-nojs`;
    await page.goto(`/if/flow/${FLOW}/`);
    // Without JavaScript the form posts to the page itself.
    await expect(firstStage(page).locator("form")).toHaveAttribute("method", "post");

    await fillPlain(firstStage(page), "akadmin", PASSWORD);
    await firstStage(page).getByLabel("Green", { exact: true }).check();
    await firstStage(page).locator('button[type="submit"]').click();
    await expectFieldError(
      firstStage(page),
      firstStage(page).getByLabel("Username", { exact: true }),
      "username",
      "Username is already taken.",
    );

    await fillPlain(firstStage(page), username, "Other-Horse-9");
    await firstStage(page).getByLabel("Green", { exact: true }).check();
    await firstStage(page).locator('button[type="submit"]').click();
    await expect(page.locator('[data-field-error="non_field_errors"]')).toHaveText("Passwords don't match.");

    const again = firstStage(page);
    await fillPlain(again, username, PASSWORD);
    await again.getByLabel("I agree", { exact: true }).check();
    await again.getByLabel("Size", { exact: true }).selectOption("L");
    await again.getByLabel("About you", { exact: true }).fill("");
    await again.getByLabel("Born", { exact: true }).fill("2001-12-31");
    await again.getByLabel("First meeting", { exact: true }).fill("2024-05-06T07:08");
    await again.getByLabel("Language", { exact: true }).selectOption("fr");
    await again.locator('button[type="submit"]').click();
    // Unticked radio groups keep the choice's default (the first); an untouched text area is
    // sent empty; a file cannot be sent without JavaScript.
    await expectSummary(
      page,
      `Ann/${username}/30/True/red/L/`,
      "|2001-12-31|2024-05-06T07:08:00Z|fr|from-server|Read this first|Free|Be nice",
    );
  });
});
