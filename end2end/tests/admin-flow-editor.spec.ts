// The flow editor's stage bindings: reordering by drag and drop, by keyboard and by order
// number is saved at once; after a reload the editor shows the same order, and the flow asks
// its stages in exactly that order. Also: binding options, adding and removing a binding, the
// flow's settings and deleting the flow. Each test gets its own flow (from a blueprint).
import type { Browser, Page } from "@playwright/test";

import { API_TOKEN, applyBlueprint, expect, hydrated, stage, test } from "./fixtures";
import { gotoAdmin, openAdmin } from "./admin";

const RUN = Date.now();
const LABELS = ["Alpha", "Beta", "Gamma"];

/** A flow of three prompt stages (one text field each, labelled Alpha/Beta/Gamma field). */
async function makeFlow(tag: string): Promise<{ slug: string; stageNames: string[] }> {
  const slug = `editor-${tag}-${RUN}`;
  const stageNames = LABELS.map((label) => `${label} stage ${tag} ${RUN}`);
  const entries = LABELS.map(
    (label, i) => `  - model: authentik_stages_prompt.prompt
    id: field${i}
    identifiers: {name: editor-${tag}-${label}-${RUN}}
    attrs: {field_key: ${label.toLowerCase()}, label: ${label} field, type: text, order: 0}
  - model: authentik_stages_prompt.promptstage
    id: stage${i}
    identifiers: {name: ${stageNames[i]}}
    attrs: {fields: [!KeyOf field${i}]}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf stage${i}, order: ${(i + 1) * 10}}`,
  ).join("\n");
  await applyBlueprint(`
version: 1
metadata:
  name: keyflow e2e - editor ${tag} ${RUN}
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: ${slug}}
    attrs: {name: Editor ${tag}, title: Editor ${tag}, designation: enrollment, authentication: none}
${entries}
`);
  return { slug, stageNames };
}

const rows = (page: Page) => page.getByTestId("binding");

/** The editor's binding list, as stage names in order. */
async function expectOrder(page: Page, names: string[]): Promise<void> {
  await expect(page.getByTestId("binding-stage")).toHaveText(names);
}

/** What the flow asks first, in a fresh (anonymous) browser context. */
async function expectFirstQuestion(browser: Browser, slug: string, label: string): Promise<void> {
  const context = await browser.newContext();
  try {
    const visitor = await context.newPage();
    await visitor.goto(`/if/flow/${slug}/`);
    await hydrated(visitor);
    const form = stage(visitor, "ak-stage-prompt");
    await expect(form.getByLabel(`${label} field`, { exact: true })).toBeVisible();
    await expect(form.getByRole("textbox")).toHaveCount(1);
  } finally {
    await context.close();
  }
}

test.beforeAll(() => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
});

// The rows are compact so that all three fit in the viewport: Playwright scrolls the drop
// target into view between mouse down and the drag's start, and a scrolled page would start
// the drag from whatever row is then under the pointer.
test("drag and drop reorders the bindings, saved at once and run in that order", async ({ page, browser }) => {
  const { slug, stageNames: [a, b, c] } = await makeFlow("dnd");
  await expectFirstQuestion(browser, slug, "Alpha");
  await openAdmin(page, `/if/admin/flows/${slug}/`);
  await expectOrder(page, [a, b, c]);
  // Gamma onto Alpha: Gamma goes first.
  await rows(page).nth(2).locator(".drag-handle").dragTo(rows(page).nth(0));
  await expect(page.getByTestId("reorder-status")).toHaveText(`${c} moved to position 1.`);
  await expectOrder(page, [c, a, b]);
  await page.reload();
  await hydrated(page);
  await expectOrder(page, [c, a, b]);
  await expectFirstQuestion(browser, slug, "Gamma");
  // And back down: Gamma onto Beta (the last row).
  await rows(page).nth(0).locator(".drag-handle").dragTo(rows(page).nth(2));
  await expectOrder(page, [a, b, c]);
  await page.reload();
  await hydrated(page);
  await expectOrder(page, [a, b, c]);
  await expectFirstQuestion(browser, slug, "Alpha");
});

test("the move buttons reorder by keyboard and keep the focus on the moved stage", async ({ page, browser }) => {
  const { slug, stageNames: [a, b, c] } = await makeFlow("keys");
  await openAdmin(page, `/if/admin/flows/${slug}/`);
  await page.getByRole("button", { name: `Move ${a} down` }).focus();
  await page.keyboard.press("Enter");
  await expectOrder(page, [b, a, c]);
  // The focus follows the moved stage, so Enter again moves it further.
  await expect(page.getByRole("button", { name: `Move ${a} down` })).toBeFocused();
  await page.keyboard.press("Enter");
  await expectOrder(page, [b, c, a]);
  await expect(page.getByRole("button", { name: `Move ${a} up` })).toBeFocused();
  // The last stage cannot move further down.
  await expect(page.getByRole("button", { name: `Move ${a} down` })).toBeDisabled();
  await page.reload();
  await hydrated(page);
  await expectOrder(page, [b, c, a]);
  await expectFirstQuestion(browser, slug, "Beta");
});

test("an edited order number is saved and decides the order", async ({ page, browser }) => {
  const { slug, stageNames: [a, b, c] } = await makeFlow("numbers");
  await openAdmin(page, `/if/admin/flows/${slug}/`);
  const gammaOrder = rows(page).nth(2).getByLabel("Order");
  await gammaOrder.fill("15");
  await gammaOrder.press("Tab");
  await expectOrder(page, [a, c, b]);
  await page.reload();
  await hydrated(page);
  await expectOrder(page, [a, c, b]);
  await expect(rows(page).nth(1).getByLabel("Order")).toHaveValue("15");
  // Equal numbers: the editor and the engine break the tie the same way.
  const betaOrder = rows(page).nth(2).getByLabel("Order");
  await betaOrder.fill("5");
  await betaOrder.press("Tab");
  await expectOrder(page, [b, a, c]);
  await expectFirstQuestion(browser, slug, "Beta");
});

test("binding options, adding and removing a binding", async ({ page, browser }) => {
  const { slug, stageNames: [a, b, c] } = await makeFlow("bind");
  await openAdmin(page, `/if/admin/flows/${slug}/`);
  // Options: saved and shown again after a reload.
  const first = rows(page).nth(0);
  await first.getByText("Options", { exact: true }).click();
  await first.getByLabel("Evaluate policies again right before the stage runs").check();
  await first.getByLabel("On an invalid response").selectOption("restart");
  await first.getByRole("button", { name: "Save options" }).click();
  await page.reload();
  await hydrated(page);
  await rows(page).nth(0).getByText("Options", { exact: true }).click();
  await expect(rows(page).nth(0).getByLabel("Evaluate policies again right before the stage runs")).toBeChecked();
  await expect(rows(page).nth(0).getByLabel("On an invalid response")).toHaveValue("restart");
  // Remove Alpha (asks first), then bind it again: it goes last.
  await rows(page).nth(0).getByRole("button", { name: "Remove" }).click();
  await rows(page).nth(0).getByRole("button", { name: "Yes, delete" }).click();
  await expectOrder(page, [b, c]);
  await expectFirstQuestion(browser, slug, "Beta");
  const add = page.getByTestId("add-binding");
  await add.getByLabel("Stage").selectOption({ label: `${a} (Prompt Stage)` });
  await add.getByRole("button", { name: "Bind stage" }).click();
  await expectOrder(page, [b, c, a]);
  // Without a stage: the field says so (the last choice stays selected, so clear it first).
  await add.getByLabel("Stage").selectOption("");
  await add.getByRole("button", { name: "Bind stage" }).click();
  await expect(page.locator("#add-binding-stage-error")).toBeVisible();
});

test("flow settings are saved, and a flow is deleted only after confirming", async ({ page }) => {
  const { slug } = await makeFlow("settings");
  await openAdmin(page, `/if/admin/flows/${slug}/`);
  const settings = page.getByTestId("flow-settings");
  await settings.getByLabel("Title").fill("A new title");
  await settings.getByLabel("Layout").selectOption("sidebar_left");
  await settings.getByRole("button", { name: "Save settings" }).click();
  await expect(settings.getByRole("status")).toHaveText("Saved.");
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("flow-settings").getByLabel("Title")).toHaveValue("A new title");
  await expect(page.getByTestId("flow-settings").getByLabel("Layout")).toHaveValue("sidebar_left");
  // A bad slug: the field's own error.
  await page.getByTestId("flow-settings").getByLabel("Slug").fill("bad slug!");
  await page.getByTestId("flow-settings").getByRole("button", { name: "Save settings" }).click();
  await expect(page.locator("#flow-slug-error")).toBeVisible();
  await page.getByTestId("flow-settings").getByLabel("Slug").fill(slug);
  // Delete: cancel first, then confirm.
  await page.getByRole("button", { name: "Delete flow" }).click();
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("button", { name: "Delete flow" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/flows\/$/);
  await gotoAdmin(page, "/if/admin/flows/");
  await expect(page.getByTestId("flow-list")).not.toContainText(slug);
});
