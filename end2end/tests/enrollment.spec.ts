// Sign-up with email verification, end to end in the browser: keyflow's example blueprint
// (flows-enrollment-email-verification.yaml, applied under a slug of this run's own), the two
// prompt pages, the real mail caught by the SMTP sink, the link, the consent step, and the account
// active and signed in. The link works once: a browser that opened it before it was used is
// refused afterwards, and a fresh browser gets nothing from it.
import { readFileSync } from "node:fs";
import path from "node:path";

import {
  API_TOKEN,
  ME_URL,
  MAIL_DIR,
  applyBlueprint,
  expect,
  findUser,
  flowLink,
  hydrated,
  nextMail,
  stage,
  test,
} from "./fixtures";

const RUN = Date.now();
const EXAMPLE = path.resolve(__dirname, "../../server/blueprints/example/flows-enrollment-email-verification.yaml");
const FLOW = `keyflow-enrollment-email-${RUN}`;
const USERNAME = `enroll-e2e-${RUN}`;
const EMAIL = `${USERNAME}@example.com`;
const PASSWORD = "Quartz-Meadow-Lantern-81";
const LINK_USED = "Link was already used, please request a new link.";

test.beforeAll(async () => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
  test.skip(!MAIL_DIR, "KEYFLOW_MAIL_DIR not set (no SMTP sink)");
  // The example as shipped, with this run's slug and stage names.
  const example = readFileSync(EXAMPLE, "utf8").replaceAll("keyflow-enrollment-email", FLOW);
  await applyBlueprint(example);
});

test("enrol with email verification: prompts, the mailed link, consent, signed in", async ({ page, browser }) => {
  await page.goto(`/if/flow/${FLOW}/`);
  await hydrated(page);
  const account = stage(page, "ak-stage-prompt");
  await account.getByLabel("Username", { exact: true }).fill(USERNAME);
  await account.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await account.getByLabel("Password (repeat)", { exact: true }).fill(PASSWORD);
  await account.getByRole("button", { name: "Continue" }).click();

  const person = stage(page, "ak-stage-prompt");
  await expect(person.getByLabel("Email", { exact: true })).toBeVisible();
  // A new form: nothing typed on the previous page shows up in this one's inputs.
  await expect(person.getByLabel("Name", { exact: true })).toHaveValue("");
  await person.getByLabel("Name", { exact: true }).fill("Enrolled Person");
  await person.getByLabel("Email", { exact: true }).fill(EMAIL);
  await person.getByRole("button", { name: "Continue" }).click();

  await expect(stage(page, "ak-stage-email")).toBeVisible();
  await expect(page.getByTestId("email-sent-help")).toBeVisible();
  // Written already, inactive until the address is confirmed.
  const created = await findUser(USERNAME);
  expect(created?.is_active, JSON.stringify(created)).toBe(false);
  expect((await page.request.get(ME_URL)).status()).toBe(403);

  const mail = await nextMail(EMAIL);
  expect(mail.subject).toBe("Confirm your email address");
  expect(mail.html).toContain("<");
  const link = flowLink(mail, FLOW);
  expect(new URL(link, "http://x").searchParams.get("flow_token")?.length).toBeGreaterThanOrEqual(32);

  // A mail scanner (another browser) opens the link first: it sees the consent step and
  // spends nothing.
  const scanner = await browser.newContext();
  const scannerPage = await scanner.newPage();
  await scannerPage.goto(link);
  await hydrated(scannerPage);
  await expect(stage(scannerPage, "ak-stage-consent")).toBeVisible();

  await page.goto(link);
  await hydrated(page);
  const consent = stage(page, "ak-stage-consent");
  await expect(consent.getByTestId("consent-header")).toHaveText("Continue to confirm this email address.");
  await consent.getByRole("button", { name: "Continue" }).click();
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await expect(page.getByTestId("current-user")).toContainText(USERNAME);
  const me = await page.request.get(ME_URL);
  expect(me.status()).toBe(200);
  expect((await me.json()).user.username).toBe(USERNAME);
  const activated = await findUser(USERNAME);
  expect(activated?.is_active).toBe(true);
  expect(activated?.email).toBe(EMAIL);
  expect(activated?.name).toBe("Enrolled Person");

  // The second opening of the link: the browser that had it open is refused...
  await scannerPage.reload();
  await hydrated(scannerPage);
  await expect(stage(scannerPage, "ak-stage-access-denied")).toBeVisible();
  await expect(scannerPage.getByTestId("error-message")).toHaveText(LINK_USED);
  expect((await scannerPage.request.get(ME_URL)).status()).toBe(403);
  await scanner.close();

  // ...and a fresh browser gets no consent step and no account from it: the flow starts over.
  const late = await browser.newContext();
  const latePage = await late.newPage();
  await latePage.goto(link);
  await hydrated(latePage);
  await expect(stage(latePage, "ak-stage-prompt").getByLabel("Username", { exact: true })).toBeVisible();
  await expect(stage(latePage, "ak-stage-consent")).toHaveCount(0);
  expect((await latePage.request.get(ME_URL)).status()).toBe(403);
  await late.close();
  // Exactly one mail was sent.
  expect(await nextMail(EMAIL, { timeout: 1_000 }).catch(() => null)).toBeNull();
});
