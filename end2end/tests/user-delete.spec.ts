// Account deletion in the browser: keyflow's example unenrollment blueprint
// (flows-unenrollment.yaml, under a slug of this run's own) run by a signed-in user: confirm, the
// account is gone, and the person is signed out here and in a second browser signed in as them.
import { readFileSync } from "node:fs";
import path from "node:path";

import {
  API_TOKEN,
  ME_URL,
  applyBlueprint,
  createUser,
  expect,
  findUser,
  hydrated,
  login,
  openLogin,
  stage,
  submitIdentification,
  submitPassword,
  test,
} from "./fixtures";

const RUN = Date.now();
const EXAMPLE = path.resolve(__dirname, "../../server/blueprints/example/flows-unenrollment.yaml");
const FLOW = `keyflow-unenrollment-${RUN}`;
const USERNAME = `delete-e2e-${RUN}`;
const PASSWORD = "Delete-Me-Pass-123";

test.beforeAll(async () => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
  const example = readFileSync(EXAMPLE, "utf8").replaceAll("keyflow-unenrollment", FLOW);
  await applyBlueprint(example);
  await createUser(USERNAME, PASSWORD);
});

test("the unenrollment flow deletes the account and ends its sessions in every browser", async ({
  page,
  browser,
}) => {
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await login(otherPage, { username: USERNAME, password: PASSWORD });
  await login(page, { username: USERNAME, password: PASSWORD });
  expect((await otherPage.request.get(ME_URL)).status()).toBe(200);

  await page.goto(`/if/flow/${FLOW}/`);
  await hydrated(page);
  const confirm = stage(page, "ak-stage-consent");
  await expect(confirm).toBeVisible();
  // Nothing happens before the confirmation.
  expect(await findUser(USERNAME)).toBeDefined();
  await confirm.getByRole("button", { name: "Continue" }).click();

  await expect(page).toHaveURL((url) => url.pathname === "/");
  await hydrated(page);
  await expect(page.getByTestId("login-link")).toBeVisible();
  await expect(page.getByTestId("current-user")).toHaveCount(0);
  expect((await page.request.get(ME_URL)).status()).toBe(403);
  expect(await findUser(USERNAME)).toBeUndefined();

  // The second browser's session ended too.
  expect((await otherPage.request.get(ME_URL)).status()).toBe(403);
  await otherPage.reload();
  await hydrated(otherPage);
  await expect(otherPage.getByTestId("login-link")).toBeVisible();
  await expect(otherPage.getByTestId("current-user")).toHaveCount(0);
  await other.close();

  // And the account cannot sign in again.
  await openLogin(page);
  await submitIdentification(page, USERNAME);
  await submitPassword(page, PASSWORD);
  await expect(stage(page, "ak-stage-password").locator('[data-field-error="password"]')).toContainText(
    "Invalid password",
  );
});
