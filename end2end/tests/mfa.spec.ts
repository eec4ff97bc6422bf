// MFA end to end with codes: TOTP set-up (QR code + key shown, first code confirms), signing in
// with a TOTP code, recovery codes shown once and each usable once, the device picker, and the
// own-devices page. Codes are computed here with Node's HMAC (RFC 6238), independently of the
// server's Rust implementation. A user of its own keeps akadmin free of MFA for the other specs.
import { createHmac } from "node:crypto";
import { request as playwrightRequest, type Page } from "@playwright/test";

import { API_TOKEN, LOGOUT_URL, ME_URL, expect, hydrated, login, openLogin, stage, submitIdentification, submitPassword, test } from "./fixtures";

const BASE = process.env.KEYFLOW_BASE_URL ?? "http://localhost:3000";
const TOTP_SETUP = "/if/flow/default-authenticator-totp-setup/";
const STATIC_SETUP = "/if/flow/default-authenticator-static-setup/";
const VALIDATE = "ak-stage-authenticator-validate";
const PASSWORD = "Mfa-Tester-Pass-123";
const username = `mfa-e2e-${Date.now()}`;

let totpKey: Buffer | undefined;
/** The last time step the server accepted a code for: each step counts once. */
let lastStep = 0;
let recoveryCodes: string[] = [];

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

/** RFC 6238 TOTP: SHA-1, 6 digits, for time step `step` (30 s each). */
function totp(key: Buffer, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return number.toString().padStart(6, "0");
}

/**
 * A code the server will take: the step after the last accepted one, once the clock is close
 * enough to it (the server allows one step of drift either side).
 */
async function nextCode(page: Page): Promise<string> {
  while (currentStep() < lastStep) await page.waitForTimeout(1000);
  lastStep += 1;
  return totp(totpKey!, lastStep);
}

async function logout(page: Page) {
  await page.goto(LOGOUT_URL);
  // The logout flow ends with a client-side move to the home page: wait for it, or the next
  // page.goto races it and is interrupted.
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await hydrated(page);
  await expect.poll(async () => (await page.request.get(ME_URL)).status(), { timeout: 10_000 }).toBe(403);
}

/** Identification and password of the default flow, ending on the MFA validation stage. */
async function passwordThenValidate(page: Page) {
  await openLogin(page);
  await submitIdentification(page, username);
  await submitPassword(page, PASSWORD);
  await expect(stage(page, VALIDATE)).toBeVisible();
}

async function submitCode(page: Page, component: string, code: string) {
  const form = stage(page, component);
  const input = form.locator('input[name="code"]');
  await expect(input).toHaveAttribute("autocomplete", "one-time-code");
  await input.fill(code);
  await form.locator('button[type="submit"]').click();
}

test.describe.serial("MFA with codes", () => {
  // Waiting for the next TOTP step can take up to 30 s.
  test.setTimeout(90_000);

  test.beforeAll(async () => {
    test.skip(!API_TOKEN, "KEYFLOW_TEST_TOKEN not set");
    const api = await playwrightRequest.newContext({
      baseURL: BASE,
      extraHTTPHeaders: { Authorization: `Bearer ${API_TOKEN}` },
    });
    const created = await api.post("/api/v3/core/users/", {
      data: { username, name: "MFA Tester", email: `${username}@example.com` },
    });
    expect(created.status(), await created.text()).toBe(201);
    const { pk } = await created.json();
    const password = await api.post(`/api/v3/core/users/${pk}/set_password/`, { data: { password: PASSWORD } });
    expect(password.status(), await password.text()).toBeLessThan(300);
    await api.dispose();
  });

  test("TOTP set-up shows a QR code and the key; a wrong code is refused, the right one confirms", async ({ page }) => {
    // No device yet: the default flow's MFA validation is skipped.
    await login(page, { username, password: PASSWORD });
    await page.goto(TOTP_SETUP);
    await hydrated(page);
    const setup = stage(page, "ak-stage-authenticator-totp");
    await expect(setup).toBeVisible();
    // The server draws the QR code for this session's set-up: the image loads.
    const qr = setup.getByTestId("totp-qr");
    await expect(qr).toBeVisible();
    await expect.poll(() => qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
    await setup.locator("details.manual-key summary").click();
    const secret = (await setup.getByTestId("totp-secret").textContent()) ?? "";
    totpKey = base32Decode(secret);
    expect(totpKey.length).toBe(20);
    const input = setup.locator('input[name="code"]');
    await expect(input).toHaveAttribute("inputmode", "numeric");

    lastStep = currentStep();
    const current = totp(totpKey, lastStep);
    const wrong = current === "000000" ? "000001" : "000000";
    await submitCode(page, "ak-stage-authenticator-totp", wrong);
    await expect(setup.locator('[data-field-error="code"][role="alert"]')).toContainText("Code does not match");
    // One failure throttles the device for a second.
    await page.waitForTimeout(1100);
    lastStep = currentStep();
    await submitCode(page, "ak-stage-authenticator-totp", totp(totpKey, lastStep));
    await expect(page).toHaveURL((url) => url.pathname === "/");
    await expect(page.getByTestId("current-user")).toContainText(username);
  });

  test("signing in asks for the TOTP code after the password", async ({ page }) => {
    expect(totpKey, "the set-up test ran first").toBeDefined();
    await passwordThenValidate(page);
    // The set-up used this step's code; codes are accepted once, so use the app's next one.
    const code = await nextCode(page);
    await submitCode(page, VALIDATE, code);
    await expect(page).toHaveURL((url) => url.pathname === "/");
    await expect(page.getByTestId("current-user")).toContainText(username);
    // Replaying the same code in a new sign-in is refused.
    await logout(page);
    await passwordThenValidate(page);
    await submitCode(page, VALIDATE, code);
    await expect(stage(page, VALIDATE).locator('[data-field-error="code"][role="alert"]')).toContainText(
      "Invalid Token",
    );
    expect((await page.request.get(ME_URL)).status()).toBe(403);
  });

  test("recovery codes are shown once and each signs in once", async ({ page }) => {
    expect(totpKey).toBeDefined();
    await passwordThenValidate(page);
    await page.waitForTimeout(1100); // the replay above throttled the TOTP device
    await submitCode(page, VALIDATE, await nextCode(page));
    await expect(page).toHaveURL((url) => url.pathname === "/");

    await page.goto(STATIC_SETUP);
    await hydrated(page);
    const setup = stage(page, "ak-stage-authenticator-static");
    const codes = setup.getByTestId("static-codes").locator("code");
    await expect(codes).toHaveCount(6);
    recoveryCodes = (await codes.allTextContents()).map((c) => c.trim());
    for (const code of recoveryCodes) expect(code).toMatch(/^[A-Za-z0-9]{12}$/);
    await setup.locator('button[type="submit"]').click();
    await expect(page).toHaveURL((url) => url.pathname === "/");

    await logout(page);
    await passwordThenValidate(page);
    await hydrated(page);
    const validate = stage(page, VALIDATE);
    // Two devices: a picker, the last used (TOTP) first.
    const picker = validate.getByTestId("device-picker");
    await expect(picker.locator("button")).toHaveCount(2);
    await expect(picker.locator('button[data-device-class="totp"]')).toHaveAttribute("aria-pressed", "true");
    await picker.locator('button[data-device-class="static"]').click();
    await expect(validate.locator('input[name="code"]')).not.toHaveAttribute("inputmode", "numeric");
    await submitCode(page, VALIDATE, recoveryCodes[0]);
    await expect(page).toHaveURL((url) => url.pathname === "/");

    await logout(page);
    await passwordThenValidate(page);
    await submitCode(page, VALIDATE, recoveryCodes[0]);
    await expect(stage(page, VALIDATE).locator('[data-field-error="code"][role="alert"]')).toContainText(
      "Invalid Token",
    );
    await page.waitForTimeout(1100);
    await submitCode(page, VALIDATE, recoveryCodes[1]);
    await expect(page).toHaveURL((url) => url.pathname === "/");
  });

  test("the authenticators page lists, renames and removes devices", async ({ page }) => {
    expect(recoveryCodes.length).toBe(6);
    await passwordThenValidate(page);
    await submitCode(page, VALIDATE, recoveryCodes[2]);
    await expect(page).toHaveURL((url) => url.pathname === "/");

    await page.goto("/if/user/");
    await hydrated(page);
    const list = page.getByTestId("device-list");
    await expect(list.locator("li.device")).toHaveCount(2);
    const totpRow = list.locator('li[data-device-kind="totp"]');
    await totpRow.locator('input[name="name"]').fill("My phone");
    await totpRow.getByRole("button", { name: "Rename" }).click();
    await expect(totpRow.locator('input[name="name"]')).toHaveValue("My phone");
    const all = await page.request.get("/api/v3/authenticators/all/");
    expect((await all.json()).map((d: { name: string }) => d.name)).toContain("My phone");

    await list.locator('li[data-device-kind="static"]').getByRole("button", { name: "Remove" }).click();
    await expect(list.locator("li.device")).toHaveCount(1);
    await expect(page.getByTestId("setup-totp")).toHaveAttribute("href", /default-authenticator-totp-setup/);
  });
});
