// The flow editor's tools: the linter (on authentik's example recovery flow), the simulator
// (its plan matches a real run of the flow), versions (a rollback restores what the flow did
// before), the diagram (focusable nodes with their gates; stages are moved, added and removed
// from the diagram), and
// policies (an expression with a syntax error is refused with its line before saving; once
// bound to a stage binding in the editor, the real flow skips that stage).
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import type { Browser, Page } from "@playwright/test";

import { API_TOKEN, applyBlueprint, expect, hydrated, stage, test } from "./fixtures";
import { gotoAdmin, openAdmin } from "./admin";

const RUN = Date.now();
const SPEC_DIR = process.env.KEYFLOW_SPEC_DIR ?? "/work/shared/spec";
const LABELS = ["Alpha", "Beta", "Gamma"];

/**
 * A flow of prompt stages (one text field each, labelled "<Label> field"); `gates` maps a
 * label to the expression of a policy bound to that stage's binding (checked at plan time).
 */
async function promptFlow(tag: string, labels: string[], gates: Record<string, string> = {}): Promise<string> {
  const slug = `tools-${tag}-${RUN}`;
  const entries = labels
    .map((label, i) => {
      const gate = gates[label]
        ? `
  - model: authentik_policies_expression.expressionpolicy
    id: policy${i}
    identifiers: {name: tools-${tag}-${label}-policy-${RUN}}
    attrs: {expression: "${gates[label]}"}
  - model: authentik_policies.policybinding
    identifiers: {policy: !KeyOf policy${i}, target: !KeyOf binding${i}, order: 0}`
        : "";
      return `  - model: authentik_stages_prompt.prompt
    id: field${i}
    identifiers: {name: tools-${tag}-${label}-${RUN}}
    attrs: {field_key: ${label.toLowerCase()}, label: ${label} field, type: text, order: 0}
  - model: authentik_stages_prompt.promptstage
    id: stage${i}
    identifiers: {name: ${label} ${tag} ${RUN}}
    attrs: {fields: [!KeyOf field${i}]}
  - model: authentik_flows.flowstagebinding
    id: binding${i}
    identifiers: {target: !KeyOf flow, stage: !KeyOf stage${i}, order: ${(i + 1) * 10}}
    attrs: {evaluate_on_plan: true}${gate}`;
    })
    .join("\n");
  await applyBlueprint(`
version: 1
metadata:
  name: keyflow e2e - tools ${tag} ${RUN}
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: ${slug}}
    attrs: {name: Tools ${tag}, title: Tools ${tag}, designation: enrollment, authentication: none}
${entries}
`);
  return slug;
}

/** The labels a real (anonymous) run of `slug` asks, answering each with "x". */
async function realRun(browser: Browser, slug: string, steps: number): Promise<string[]> {
  const context = await browser.newContext();
  const asked: string[] = [];
  try {
    const visitor = await context.newPage();
    await visitor.goto(`/if/flow/${slug}/`);
    await hydrated(visitor);
    for (let i = 0; i < steps; i++) {
      const form = stage(visitor, "ak-stage-prompt");
      const box = form.getByRole("textbox");
      await expect(box).toHaveCount(1);
      const label = (await form.locator("label").first().innerText()).replace(/ field.*$/s, "").trim();
      asked.push(label);
      await box.fill("x");
      await form.locator('button[type="submit"]').click();
      await expect(form.getByLabel(`${label} field`, { exact: true })).toHaveCount(0);
    }
  } finally {
    await context.close();
  }
  return asked;
}

const bindingOrder = (page: Page) => page.getByTestId("binding-stage");

test.beforeAll(() => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
});

test("the linter names the MFA hole of authentik's example recovery flow", async ({ page }) => {
  const example = `${SPEC_DIR}/blueprints/flows-recovery-email-verification.yaml`;
  test.skip(!fs.existsSync(example), `${example} is not on this machine`);
  const slug = `example-recovery-${RUN}`;
  const content = fs
    .readFileSync(example, "utf8")
    .replaceAll("default-recovery-flow", slug)
    .replaceAll("name: default-recovery-", `name: e2e-${RUN}-recovery-`)
    .replaceAll("name: Change your password", `name: e2e ${RUN} change your password`)
    // Fixed binding pks would be the ones keyflow's own recovery flow already uses.
    .replace(/pk: [0-9a-f-]{36}/g, () => `pk: ${crypto.randomUUID()}`);
  await applyBlueprint(content);
  await openAdmin(page, `/if/admin/flows/${slug}/lint/`);
  const bypass = page.locator('[data-testid="lint-finding"][data-rule="mfa-bypass"]');
  await expect(bypass).toHaveCount(1);
  await expect(bypass).toContainText("Error");
  await expect(bypass).toContainText("How to fix");
  await expect(page.getByTestId("lint-summary")).toContainText(/[1-9]\d* error/);
  // keyflow's own login flow has no errors.
  await gotoAdmin(page, "/if/admin/flows/default-authentication-flow/lint/");
  await expect(page.getByTestId("lint-summary")).toBeVisible();
  await expect(page.locator(".lint-finding.error")).toHaveCount(0);
});

test("the simulator's plan is what a real run asks", async ({ page, browser }) => {
  const slug = await promptFlow("sim", LABELS, { Beta: "return False" });
  await openAdmin(page, `/if/admin/flows/${slug}/simulate/`);
  await page.getByRole("button", { name: "Simulate" }).click();
  await expect(page.getByTestId("simulation-outcome")).toContainText("an anonymous visitor");
  const simulated = page.getByTestId("simulated-stage");
  await expect(simulated).toHaveCount(2);
  await expect(simulated.nth(0)).toContainText(`Alpha sim ${RUN}`);
  await expect(simulated.nth(1)).toContainText(`Gamma sim ${RUN}`);
  // Beta's gate shows its result and timing.
  await expect(page.getByTestId("simulated-bindings")).toContainText("skipped");
  await expect(page.getByTestId("gate").first()).toContainText(/fails in \d+\.\d+ ms/);
  expect(await realRun(browser, slug, 2)).toEqual(["Alpha", "Gamma"]);
  // Bad context JSON: the field says so, nothing runs.
  await page.getByLabel(/^Context/).fill("{not json");
  await page.getByRole("button", { name: "Simulate" }).click();
  await expect(page.locator("#simulate-context-error")).toContainText("Not valid JSON");
  // An unknown user: the server's field error.
  await page.getByLabel(/^Context/).fill("");
  await page.getByLabel(/^User/).fill(`nobody-${RUN}`);
  await page.getByRole("button", { name: "Simulate" }).click();
  await expect(page.locator("#simulate-user-error")).toContainText(`nobody-${RUN}`);
});

test("rolling back a version restores the previous order", async ({ page, browser }) => {
  const slug = await promptFlow("rollback", LABELS.slice(0, 2));
  await openAdmin(page, `/if/admin/flows/${slug}/`);
  await page.getByRole("button", { name: `Move Beta rollback ${RUN} up` }).click();
  await expect(bindingOrder(page)).toHaveText([`Beta rollback ${RUN}`, `Alpha rollback ${RUN}`]);
  expect(await realRun(browser, slug, 1)).toEqual(["Beta"]);
  await page.getByRole("link", { name: "Versions" }).click();
  const versions = page.getByTestId("version");
  await expect(versions.first()).toContainText("reordered");
  await expect(page.getByTestId("version-diff")).toContainText("-");
  // Roll back to the version before the move (the second row): it becomes the newest.
  await versions.nth(1).getByRole("button", { name: /Roll back to version/ }).click();
  await versions.nth(1).getByRole("button", { name: "Yes, roll back" }).click();
  await expect(page.getByTestId("rollback-status")).toContainText("Rolled back");
  await expect(page.getByTestId("version").first()).toContainText("Rolled back to version");
  expect(await realRun(browser, slug, 1)).toEqual(["Alpha"]);
  await page.getByRole("link", { name: "Stage bindings" }).click();
  await expect(bindingOrder(page)).toHaveText([`Alpha rollback ${RUN}`, `Beta rollback ${RUN}`]);
});

test("the diagram shows each gate and moves stages by keyboard", async ({ page, browser }) => {
  const slug = await promptFlow("diagram", LABELS, { Gamma: "return True" });
  await openAdmin(page, `/if/admin/flows/${slug}/diagram/`);
  const nodes = page.getByTestId("diagram-node");
  await expect(nodes.first()).toBeVisible();
  // Every node is focusable and says what it is.
  await nodes.first().focus();
  await expect(nodes.first()).toBeFocused();
  const gate = page.locator('[data-testid="diagram-node"][data-kind="gate"]');
  await expect(gate).toHaveCount(1);
  await expect(gate).toContainText("if fail: skip");
  const stages = page.locator('[data-testid="diagram-node"][data-kind="stage"]');
  await expect(stages).toHaveCount(3);
  await expect(stages.nth(0)).toContainText(`Alpha diagram ${RUN}`);
  await page.getByRole("button", { name: new RegExp(`Move 10\\. Alpha diagram ${RUN} .* down`) }).click();
  await expect(stages.nth(0)).toContainText(`Beta diagram ${RUN}`);
  await expect(stages.nth(1)).toContainText(`Alpha diagram ${RUN}`);
  expect(await realRun(browser, slug, 1)).toEqual(["Beta"]);

  // A stage added from the diagram comes last; removed from the diagram, it is gone.
  const add = page.getByTestId("add-binding");
  await add.getByLabel("Stage").selectOption({ label: `Alpha diagram ${RUN} (Prompt Stage)` });
  await add.getByRole("button", { name: "Bind stage" }).click();
  await expect(stages).toHaveCount(4);
  await expect(stages.nth(3)).toContainText(`Alpha diagram ${RUN}`);
  await stages.nth(3).getByRole("button", { name: "Remove" }).click();
  await stages.nth(3).getByRole("button", { name: "Yes, delete" }).click();
  await expect(stages).toHaveCount(3);
});

test("an expression policy is checked before saving, then gates a stage", async ({ page, browser }) => {
  const slug = await promptFlow("policy", LABELS.slice(0, 2));
  await openAdmin(page, "/if/admin/policies/");
  const form = page.getByTestId("policy-form");
  await form.getByLabel("Name").fill(`skip-alpha-${RUN}`);
  await form.getByLabel("Expression (Python)").fill("x = 1\nreturn x + * 2");
  await form.getByRole("button", { name: "Check the expression" }).click();
  await expect(page.locator("#new-policy-expression-error")).toContainText(/Line 2, column \d+/);
  await expect(page.locator(".code-gutter li.marked")).toHaveText("2");
  // Saving is refused the same way.
  await form.getByRole("button", { name: "Create policy" }).click();
  await expect(page.locator("#new-policy-expression-error")).toContainText("Line 2");
  await expect(page).toHaveURL(/\/if\/admin\/policies\/$/);
  await form.getByLabel("Expression (Python)").fill("return False");
  await form.getByRole("button", { name: "Check the expression" }).click();
  await expect(form.getByRole("status")).toHaveText("The expression compiles.");
  await form.getByRole("button", { name: "Create policy" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/policies\/[0-9a-f-]{36}\/$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: `Policy: skip-alpha-${RUN}` })).toBeVisible();

  // Bind it to Alpha's binding in the editor: the flow now starts with Beta.
  await gotoAdmin(page, `/if/admin/flows/${slug}/`);
  const alpha = page.getByTestId("binding").nth(0);
  await alpha.getByText(`Policies of Alpha policy ${RUN}`).click();
  const panel = alpha.getByTestId("bind-policy");
  await panel.getByLabel("Policy", { exact: true }).selectOption({ label: `skip-alpha-${RUN} (Expression Policy)` });
  await panel.getByRole("button", { name: "Bind policy" }).click();
  await expect(alpha.getByTestId("bound-policy")).toContainText(`skip-alpha-${RUN}`);
  expect(await realRun(browser, slug, 1)).toEqual(["Beta"]);
  // Switched off, it no longer decides.
  await alpha.getByTestId("bound-policy").getByRole("button", { name: "Switch off" }).click();
  await expect(alpha.getByTestId("bound-policy")).toContainText("switched off");
  expect(await realRun(browser, slug, 1)).toEqual(["Alpha"]);
});
