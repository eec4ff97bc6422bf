// The blueprints page: a file is uploaded and previewed (created / unchanged entries, nothing
// written yet), applied, previewed again (all unchanged); an invalid blueprint names the entry,
// field and reason; a flow is exported as a blueprint download that re-imports unchanged.
import { adminApi, API_TOKEN, expect, test } from "./fixtures";
import { openAdmin } from "./admin";

const RUN = Date.now();
const SLUG = `bp-ui-${RUN}`;

const BLUEPRINT = `version: 1
metadata:
  name: UI import ${RUN}
entries:
  - model: authentik_flows.flow
    identifiers:
      slug: ${SLUG}
    attrs:
      name: Imported in the UI
      title: Imported in the UI
      designation: authentication
  - model: authentik_stages_deny.denystage
    identifiers:
      name: ${SLUG}-deny
  - model: authentik_flows.flowstagebinding
    identifiers:
      target: !Find [authentik_flows.flow, [slug, ${SLUG}]]
      stage: !Find [authentik_stages_deny.denystage, [name, ${SLUG}-deny]]
      order: 10
`;

test.beforeAll(() => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
});

test("upload, preview, apply, export", async ({ page }) => {
  const api = await adminApi();
  try {
    await openAdmin(page, "/if/admin/blueprints/");
    const apply = page.getByTestId("blueprint-apply");
    await expect(apply).toBeDisabled();
    await page.getByLabel("Blueprint file").setInputFiles({
      name: "ui.yaml",
      mimeType: "application/yaml",
      buffer: Buffer.from(BLUEPRINT),
    });
    await expect(page.getByLabel("YAML")).toHaveValue(BLUEPRINT);

    await page.getByTestId("blueprint-preview").click();
    const entries = page.getByTestId("blueprint-entry");
    await expect(entries).toHaveCount(3);
    await expect(entries.nth(0)).toHaveAttribute("data-action", "created");
    await expect(entries.nth(0)).toContainText(`slug=${SLUG}`);
    await expect(page.getByTestId("blueprint-summary")).toContainText("Preview: 3 change(s)");
    // A preview writes nothing.
    expect((await api.get(`/api/v3/flows/instances/${SLUG}/`)).status()).toBe(404);

    await apply.click();
    await expect(page.getByTestId("blueprint-summary")).toHaveText("Applied: 3 change(s).");
    expect((await api.get(`/api/v3/flows/instances/${SLUG}/`)).status()).toBe(200);
    // Apply is offered again only after a new preview.
    await expect(apply).toBeDisabled();
    await page.getByTestId("blueprint-preview").click();
    await expect(page.getByTestId("blueprint-summary")).toHaveText("Preview: nothing would change.");
    await expect(entries.first()).toHaveAttribute("data-action", "unchanged");

    // Editing the text after the preview takes the apply back.
    await page.getByLabel("YAML").fill(BLUEPRINT.replace("designation: authentication", "designation: nonsense"));
    await expect(apply).toBeDisabled();
    await page.getByTestId("blueprint-preview").click();
    const error = page.getByTestId("blueprint-error");
    await expect(error).toBeVisible();
    await expect(error.getByTestId("blueprint-error-entry")).toHaveText("entries[0]");
    await expect(error.getByTestId("blueprint-error-field")).toHaveText("designation");
    await expect(error.getByTestId("blueprint-error-message")).not.toBeEmpty();
    await expect(apply).toBeDisabled();

    // Export: the download is the flow's blueprint, and importing it changes nothing.
    await page.getByLabel("Flow").selectOption(SLUG);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("blueprint-export").click(),
    ]);
    expect(download.suggestedFilename()).toBe(`flow_${SLUG}.yaml`);
    const path = await download.path();
    const exported = (await import("node:fs")).readFileSync(path!, "utf8");
    expect(exported).toContain(`slug: ${SLUG}`);
    await page.getByLabel("YAML").fill(exported);
    await page.getByTestId("blueprint-preview").click();
    await expect(page.getByTestId("blueprint-summary")).toHaveText("Preview: nothing would change.");
  } finally {
    await api.delete(`/api/v3/flows/instances/${SLUG}/`);
    await api.dispose();
  }
});
