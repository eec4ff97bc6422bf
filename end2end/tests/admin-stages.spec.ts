// The admin's stage and prompt-field pages: forms derived from each kind's typed configuration
// (create, edit, validation errors under their field, write-only secrets, delete), and a whole
// flow built from nothing in the UI (stages, bindings, a policy) that a person then logs in
// through in a second browser context.
import type { Browser, Page } from "@playwright/test";

import {
  adminApi,
  API_TOKEN,
  createUser,
  expect,
  hydrated,
  submitIdentification,
  submitPassword,
  test,
} from "./fixtures";
import { gotoAdmin, openAdmin } from "./admin";

const RUN = Date.now();

test.beforeAll(() => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
});

/** Picks `kind` in "Create a stage", fills the name, and returns the create form. */
async function startStage(page: Page, kind: string, name: string) {
  await gotoAdmin(page, "/if/admin/stages/");
  await page.getByLabel("Type", { exact: true }).selectOption({ label: kind });
  const form = page.getByTestId("object-form");
  await form.getByLabel("Name", { exact: true }).fill(name);
  return form;
}

/** Creates the stage of `form` and waits for its page; answers its pk. */
async function createStage(page: Page, form: ReturnType<Page["getByTestId"]>, name: string): Promise<string> {
  await form.getByRole("button", { name: "Create stage" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/stages\/[0-9a-f-]{36}\/$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: `Stage: ${name}` })).toBeVisible();
  return page.url().split("/").filter(Boolean).pop() ?? "";
}

test("a stage's form comes from its type: create, edit, errors under the field, delete", async ({ page }) => {
  const name = `Deny ${RUN}`;
  await openAdmin(page, "/if/admin/stages/");
  let form = await startStage(page, "Deny Stage", name);
  await form.getByLabel("Deny message").fill("Not today.");
  const pk = await createStage(page, form, name);
  await expect(page.getByText("Not bound")).toBeVisible();

  // Edit, save, reload: the form shows what was stored.
  form = page.getByTestId("object-form");
  await expect(form.getByLabel("Deny message")).toHaveValue("Not today.");
  await form.getByLabel("Deny message").fill("Not tomorrow either.");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form.getByRole("status")).toHaveText("Saved.");
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("object-form").getByLabel("Deny message")).toHaveValue("Not tomorrow either.");
  const api = await adminApi();
  const stored = await (await api.get(`/api/v3/stages/deny/${pk}/`)).json();
  expect(stored.deny_message).toBe("Not tomorrow either.");

  // A second stage under the same name is refused, with the message under the name field.
  form = await startStage(page, "Deny Stage", name);
  await form.getByRole("button", { name: "Create stage" }).click();
  await expect(page.locator("#new-stage-name-error")).toBeVisible();
  await expect(page).toHaveURL(/\/if\/admin\/stages\/$/);

  // A choice field offers exactly the type's variants; a number field refuses text.
  form = await startStage(page, "TOTP Authenticator Setup Stage", `TOTP ${RUN}`);
  await expect(form.getByLabel("Digits").locator("option:not([disabled])")).toHaveText(["6", "8"]);

  // Delete, with confirmation: gone from the list.
  await gotoAdmin(page, `/if/admin/stages/${pk}/`);
  await page.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/stages\/$/);
  await hydrated(page);
  await expect(page.getByTestId("stage-list")).not.toContainText(name);
  expect((await api.get(`/api/v3/stages/all/${pk}/`)).status()).toBe(404);
});

test("secrets are write-only: sent once, never shown, kept by a save without them", async ({ page }) => {
  const name = `Mail ${RUN}`;
  await openAdmin(page, "/if/admin/stages/");
  const form = await startStage(page, "Email Stage", name);
  await form.getByLabel("Password", { exact: true }).fill("smtp-secret-value");
  await form.getByLabel("Host").fill("mail.example.com");
  const pk = await createStage(page, form, name);
  const api = await adminApi();
  const stored = await (await api.get(`/api/v3/stages/email/${pk}/`)).json();
  expect(stored.host).toBe("mail.example.com");
  expect(stored).not.toHaveProperty("password");
  const edit = page.getByTestId("object-form");
  await expect(edit.getByLabel("Password", { exact: true })).toHaveValue("");
  expect(await page.content()).not.toContain("smtp-secret-value");
  await edit.getByLabel("Port").fill("2525");
  await edit.getByRole("button", { name: "Save" }).click();
  await expect(edit.getByRole("status")).toHaveText("Saved.");
  const export_ = await (await api.get(`/api/v3/stages/email/${pk}/`)).json();
  expect(export_.port).toBe(2525);
});

test("prompt fields: created and edited through their typed form", async ({ page }) => {
  const name = `Nickname ${RUN}`;
  await openAdmin(page, "/if/admin/prompts/");
  await page.getByRole("button", { name: "New prompt field" }).click();
  const form = page.getByTestId("object-form");
  await form.getByLabel("Name", { exact: true }).fill(name);
  await form.getByLabel("Field key").fill(`nick_${RUN}`);
  await form.getByLabel("Label", { exact: true }).fill("Nickname");
  await form.getByLabel("Type", { exact: true }).selectOption("text");
  await form.getByRole("button", { name: "Create prompt field" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/prompts\/[0-9a-f-]{36}\/$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: `Prompt field: ${name}` })).toBeVisible();
  const edit = page.getByTestId("object-form");
  await expect(edit.getByLabel("Required")).toBeChecked();
  await edit.getByLabel("Type", { exact: true }).selectOption("email");
  await edit.getByRole("button", { name: "Save" }).click();
  await expect(edit.getByRole("status")).toHaveText("Saved.");
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("object-form").getByLabel("Type", { exact: true })).toHaveValue("email");
});

/** A fresh visitor's login through `slug`; answers the challenge component after the password. */
async function visitorLogin(browser: Browser, slug: string, username: string, password: string): Promise<string> {
  const context = await browser.newContext();
  try {
    const visitor = await context.newPage();
    await visitor.goto(`/if/flow/${slug}/`);
    await hydrated(visitor);
    const first = visitor.locator("[data-component]").first();
    const component = (await first.getAttribute("data-component")) ?? "";
    if (component !== "ak-stage-identification") return component;
    await submitIdentification(visitor, username);
    await submitPassword(visitor, password);
    await expect(visitor).toHaveURL((url) => url.pathname === "/");
    await expect(visitor.getByTestId("current-user")).toContainText(username);
    return "logged-in";
  } finally {
    await context.close();
  }
}

test("a flow built from nothing in the UI logs a person in", async ({ page, browser }) => {
  const username = `built-${RUN}`;
  const password = `Built-Pass-${RUN}`;
  await createUser(username, password);
  const slug = `built-login-${RUN}`;
  await openAdmin(page, "/if/admin/stages/");

  // Three stages, each through its generated form.
  let form = await startStage(page, "Identification Stage", `Built id ${RUN}`);
  await form.getByRole("group", { name: "User fields" }).getByLabel("Username").check();
  await createStage(page, form, `Built id ${RUN}`);
  form = await startStage(page, "Password Stage", `Built password ${RUN}`);
  await expect(form.getByLabel("Backends")).toHaveValue("authentik.core.auth.InbuiltBackend");
  await createStage(page, form, `Built password ${RUN}`);
  form = await startStage(page, "User Login Stage", `Built login ${RUN}`);
  await createStage(page, form, `Built login ${RUN}`);

  // The flow, then its bindings in order.
  await gotoAdmin(page, "/if/admin/flows/");
  await page.getByLabel("Name", { exact: true }).fill(`Built ${RUN}`);
  await page.getByLabel("Slug").fill(slug);
  await page.getByLabel("Title").fill(`Built ${RUN}`);
  await page.getByLabel("Designation").selectOption("authentication");
  await page.getByRole("button", { name: "Create flow" }).click();
  await expect(page).toHaveURL(new RegExp(`/if/admin/flows/${slug}/$`));
  await hydrated(page);
  const add = page.getByTestId("add-binding");
  const kinds: [string, string][] = [
    ["Built id", "Identification Stage"],
    ["Built password", "Password Stage"],
    ["Built login", "User Login Stage"],
  ];
  for (const [what, kind] of kinds) {
    await add.getByLabel("Stage", { exact: true }).selectOption({ label: `${what} ${RUN} (${kind})` });
    await add.getByRole("button", { name: "Bind stage" }).click();
    await expect(page.getByTestId("binding-stage").last()).toHaveText(`${what} ${RUN}`);
  }
  await expect(page.getByTestId("binding-stage")).toHaveText([
    `Built id ${RUN}`,
    `Built password ${RUN}`,
    `Built login ${RUN}`,
  ]);

  // A flow policy that refuses everyone: the visitor is turned away.
  await gotoAdmin(page, "/if/admin/policies/");
  const policy = page.getByTestId("policy-form");
  await policy.getByLabel("Name").fill(`built-gate-${RUN}`);
  await policy.getByLabel("Expression (Python)").fill('ak_message("Closed for building.")\nreturn False');
  await policy.getByRole("button", { name: "Create policy" }).click();
  await expect(page).toHaveURL(/\/if\/admin\/policies\/[0-9a-f-]{36}\/$/);
  await gotoAdmin(page, `/if/admin/flows/${slug}/`);
  const flowPolicies = page.locator("section", { has: page.getByRole("heading", { name: "Flow policies" }) });
  const bind = flowPolicies.getByTestId("bind-policy");
  await bind.getByLabel("Policy", { exact: true }).selectOption({ label: `built-gate-${RUN} (Expression Policy)` });
  await bind.getByRole("button", { name: "Bind policy" }).click();
  await expect(flowPolicies.getByTestId("bound-policy")).toContainText(`built-gate-${RUN}`);
  expect(await visitorLogin(browser, slug, username, password)).toBe("ak-stage-access-denied");

  // Switched off, the flow runs: identification, password, login.
  await flowPolicies.getByTestId("bound-policy").getByRole("button", { name: "Switch off" }).click();
  await expect(flowPolicies.getByTestId("bound-policy")).toContainText("switched off");
  expect(await visitorLogin(browser, slug, username, password)).toBe("logged-in");
});
