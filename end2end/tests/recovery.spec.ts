// Password recovery through the default recovery flow (`default-recovery-flow`, offered as
// "Forgot password?" by the sign-in page), with the real mail from the SMTP sink: for an account
// without MFA (mail → link → consent → new password → signed in; the old password no longer
// works, the new one does) and for an account with TOTP, whose code is asked right after the
// link and before any password can be chosen. TOTP codes are computed here (RFC 6238 with Node's
// HMAC), independently of the server. Each test has its own user.
import { createHmac } from "node:crypto";
import type { Browser, Page } from "@playwright/test";

import {
  API_TOKEN,
  MAIL_DIR,
  ME_URL,
  createUser,
  expect,
  flowLink,
  hydrated,
  login,
  mailsTo,
  nextMail,
  openLogin,
  stage,
  submitIdentification,
  submitPassword,
  test,
} from "./fixtures";

const RUN = Date.now();
const FLOW = "default-recovery-flow";
const OLD_PASSWORD = "Old-Recovery-Pass-123";
const NEW_PASSWORD = "Fresh-Lantern-Quartz-47";
const VALIDATE = "ak-stage-authenticator-validate";

test.beforeAll(() => {
  test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
  test.skip(!MAIL_DIR, "KEYFLOW_MAIL_DIR not set (no SMTP sink)");
});

/** "Forgot password?" from the sign-in page, identifying by `uid`; ends on "check your inbox". */
async function askForLink(page: Page, uid: string): Promise<void> {
  await openLogin(page);
  const forgot = page.getByTestId("recovery");
  await expect(forgot).toHaveAttribute("href", new RegExp(`^/if/flow/${FLOW}/`));
  await forgot.click();
  await expect(page).toHaveURL((url) => url.pathname === `/if/flow/${FLOW}/`);
  await hydrated(page);
  const identify = stage(page, "ak-stage-identification");
  await identify.locator('input[name="uid_field"]').fill(uid);
  await identify.locator('button[type="submit"]').click();
  await expect(stage(page, "ak-stage-email")).toBeVisible();
}

/** Opens the mailed link in `page` and confirms the consent step. */
async function followLink(page: Page, link: string): Promise<void> {
  await page.goto(link);
  await hydrated(page);
  const consent = stage(page, "ak-stage-consent");
  await expect(consent.getByTestId("consent-header")).toHaveText("Continue to confirm this email address.");
  await consent.getByRole("button", { name: "Continue" }).click();
}

/** The new-password page: both fields, then signed in on the home page. */
async function chooseNewPassword(page: Page, username: string): Promise<void> {
  const prompt = stage(page, "ak-stage-prompt");
  await prompt.getByLabel("Password", { exact: true }).fill(NEW_PASSWORD);
  await prompt.getByLabel("Password (repeat)", { exact: true }).fill(NEW_PASSWORD);
  await prompt.getByRole("button", { name: "Continue" }).click();
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await expect(page.getByTestId("current-user")).toContainText(username);
}

/**
 * In a fresh browser: the old password is refused, the new one is taken (then signed in, or,
 * with `mfa`, on to the second factor).
 */
async function onlyTheNewPasswordWorks(browser: Browser, username: string, { mfa = false } = {}): Promise<void> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openLogin(page);
  await submitIdentification(page, username);
  await submitPassword(page, OLD_PASSWORD);
  await expect(stage(page, "ak-stage-password").locator('[data-field-error="password"]')).toContainText(
    "Invalid password",
  );
  expect((await page.request.get(ME_URL)).status()).toBe(403);
  await submitPassword(page, NEW_PASSWORD);
  if (mfa) {
    await expect(stage(page, VALIDATE)).toBeVisible();
  } else {
    await expect(page).toHaveURL((url) => url.pathname === "/");
    await expect(page.getByTestId("current-user")).toContainText(username);
  }
  await context.close();
}

test("recovery without MFA: mail, link, new password, signed in; only the new password works", async ({
  page,
  browser,
}) => {
  const username = `recover-e2e-${RUN}`;
  const email = `${username}@example.com`;
  await createUser(username, OLD_PASSWORD, email);

  await askForLink(page, email);
  const mail = await nextMail(email);
  expect(mail.subject).toBe("Reset your password");
  await followLink(page, flowLink(mail, FLOW));
  // No device: straight to the new password (the validation stage is skipped).
  await expect(stage(page, VALIDATE)).toHaveCount(0);
  await chooseNewPassword(page, username);

  await onlyTheNewPasswordWorks(browser, username);
});

test("an unknown address gets the same pages and no mail", async ({ page }) => {
  const nobody = `nobody-e2e-${RUN}@example.com`;
  await askForLink(page, nobody);
  await expect(page.getByTestId("email-sent-help")).toBeVisible();
  // Mail goes through a queue polled every second: a few seconds is plenty for one to show up.
  await page.waitForTimeout(3_000);
  expect(mailsTo(nobody)).toEqual([]);
});

// ---- TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps) ----

function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text.replace(/[\s=]/g, "").toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

const currentStep = () => Math.floor(Date.now() / 1000 / 30);

function totp(key: Buffer, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  return ((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).toString().padStart(6, "0");
}

test("recovery with TOTP: the code is asked after the link, before the new password", async ({ page, browser }) => {
  // Set-up, then waiting for the next TOTP step, can take up to 30 s.
  test.setTimeout(120_000);
  const username = `recover-totp-e2e-${RUN}`;
  const email = `${username}@example.com`;
  await createUser(username, OLD_PASSWORD, email);

  // The user sets up TOTP in a browser of their own.
  const own = await browser.newContext();
  const ownPage = await own.newPage();
  await login(ownPage, { username, password: OLD_PASSWORD });
  await ownPage.goto("/if/flow/default-authenticator-totp-setup/");
  await hydrated(ownPage);
  const setup = stage(ownPage, "ak-stage-authenticator-totp");
  await setup.locator("details.manual-key summary").click();
  const key = base32Decode((await setup.getByTestId("totp-secret").textContent()) ?? "");
  expect(key.length).toBe(20);
  let lastStep = currentStep();
  await setup.locator('input[name="code"]').fill(totp(key, lastStep));
  await setup.locator('button[type="submit"]').click();
  await expect(ownPage).toHaveURL((url) => url.pathname === "/");
  await own.close();

  await askForLink(page, username);
  const mail = await nextMail(email);
  await followLink(page, flowLink(mail, FLOW));
  // The second factor comes first; no password field is offered yet.
  const validate = stage(page, VALIDATE);
  await expect(validate).toBeVisible();
  await expect(page.locator('input[type="password"]')).toHaveCount(0);
  const code = validate.locator('input[name="code"]');

  // A wrong code is refused and changes nothing.
  const right = totp(key, lastStep + 1);
  await code.fill(right === "000000" ? "000001" : "000000");
  await validate.locator('button[type="submit"]').click();
  await expect(validate.locator('[data-field-error="code"]')).toBeVisible();
  await expect(page.locator('input[type="password"]')).toHaveCount(0);
  // One failure throttles the device for a second; codes count once per step, and the set-up
  // used this one: the next step's code, once the clock is close enough to it.
  await page.waitForTimeout(1100);
  while (currentStep() < lastStep) await page.waitForTimeout(1000);
  lastStep += 1;
  await code.fill(totp(key, lastStep));
  await validate.locator('button[type="submit"]').click();

  await expect(stage(page, "ak-stage-prompt").getByLabel("Password", { exact: true })).toBeVisible();
  await chooseNewPassword(page, username);
  await onlyTheNewPasswordWorks(browser, username, { mfa: true });
});
