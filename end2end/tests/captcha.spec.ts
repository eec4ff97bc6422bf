// The Captcha stage in the browser, against the fake providers (end2end/fakes/): the page loads
// the provider's script from js_url and renders its widget; an invisible widget is solved and
// posted without a click, an interactive one waits for "I'm not a robot". The server checks
// each token with the fake's siteverify (which saw the secret; the browser never does). A
// refused token does not loop: the widget waits for "Verify". Identification with an embedded
// captcha sends `captcha_token` with the username and password.
import type { Page } from "@playwright/test";

import { ADMIN_PASSWORD, ADMIN_USERNAME, applyBlueprint, expect, fakes, FAKES_URL, hydrated, stage, test } from "./fixtures";

const RUN = Date.now();

type Verification = { site_key: string | null; secret_ok: boolean; response: string; answer: { success?: boolean } };

async function verificationsFor(siteKey: string): Promise<Verification[]> {
  const all = (await fakes("GET", "/_fake/captcha/verifications")) as Verification[];
  return all.filter((v) => v.site_key === siteKey);
}

/** A fake site and a flow `<name>`: its captcha stage, then a deny stage saying "Captcha passed". */
async function captchaFlow(
  name: string,
  { provider, interactive, secret = `secret-${name}` }: { provider: string; interactive: boolean; secret?: string },
): Promise<{ slug: string; siteKey: string }> {
  const slug = `${name}-${RUN}`;
  const siteKey = `site-${slug}`;
  await fakes("POST", "/_fake/captcha/sites", { site_key: siteKey, secret: `secret-${name}`, provider });
  const paths: Record<string, [string, string]> = {
    recaptcha: ["/recaptcha/api.js", "/recaptcha/api/siteverify"],
    hcaptcha: ["/hcaptcha/1/api.js", "/hcaptcha/siteverify"],
    turnstile: ["/turnstile/v0/api.js", "/turnstile/v0/siteverify"],
  };
  const [js, api] = paths[provider];
  await applyBlueprint(`
version: 1
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: ${slug}}
    attrs: {name: ${slug}, title: Captcha e2e, designation: authentication, authentication: none}
  - model: authentik_stages_captcha.captchastage
    id: captcha
    identifiers: {name: ${slug}}
    attrs:
      public_key: ${siteKey}
      private_key: ${secret}
      js_url: ${FAKES_URL}${js}
      api_url: ${FAKES_URL}${api}
      interactive: ${interactive}
  - model: authentik_stages_deny.denystage
    id: deny
    identifiers: {name: ${slug}-passed}
    attrs: {deny_message: Captcha passed}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf captcha, order: 10}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf deny, order: 20}
`);
  return { slug, siteKey };
}

async function expectPassed(page: Page): Promise<void> {
  const denied = stage(page, "ak-stage-access-denied");
  await expect(denied).toBeVisible();
  await expect(denied).toContainText("Captcha passed");
}

test.beforeEach(() => {
  test.skip(!FAKES_URL, "KEYFLOW_FAKES_URL not set (no fake captcha provider)");
});

test("an invisible reCAPTCHA is solved and posted without a click", async ({ page }) => {
  const { slug, siteKey } = await captchaFlow("captcha-invisible", { provider: "recaptcha", interactive: false });
  await page.goto(`/if/flow/${slug}/`);
  await hydrated(page);
  await expectPassed(page);
  const seen = await verificationsFor(siteKey);
  expect(seen).toHaveLength(1);
  expect(seen[0].secret_ok).toBe(true);
  expect(seen[0].answer.success).toBe(true);
  // The secret stays on the server.
  expect(await page.content()).not.toContain("secret-captcha-invisible");
});

for (const provider of ["hcaptcha", "turnstile"]) {
  test(`an interactive ${provider} widget waits for the person`, async ({ page }) => {
    const { slug, siteKey } = await captchaFlow(`captcha-${provider}`, { provider, interactive: true });
    await page.goto(`/if/flow/${slug}/`);
    await hydrated(page);
    const captcha = stage(page, "ak-stage-captcha");
    await expect(captcha).toContainText("Confirm that you are a person");
    const box = captcha.getByTestId("fake-captcha-checkbox");
    await expect(box).toBeVisible();
    expect(await verificationsFor(siteKey)).toHaveLength(0);
    await box.check();
    await expectPassed(page);
    expect(await verificationsFor(siteKey)).toHaveLength(1);
  });
}

test("a refused token is shown and the widget waits for Verify", async ({ page }) => {
  const { slug, siteKey } = await captchaFlow("captcha-refused", {
    provider: "recaptcha",
    interactive: false,
    secret: "not-the-sites-secret",
  });
  await page.goto(`/if/flow/${slug}/`);
  await hydrated(page);
  const captcha = stage(page, "ak-stage-captcha");
  await expect(captcha.locator('[data-field-error="token"]')).toHaveText("Invalid captcha response");
  const verify = captcha.getByTestId("captcha-start");
  await expect(verify).toBeVisible();
  // Calls with a secret no site has (only this test makes them): one, and no second on its own.
  const refused = async () =>
    ((await fakes("GET", "/_fake/captcha/verifications")) as Verification[]).filter((v) => !v.secret_ok).length;
  expect(await refused()).toBe(1);
  await page.waitForTimeout(1500);
  expect(await refused()).toBe(1);
  await verify.click();
  await expect.poll(refused).toBe(2);
  await expect(captcha.locator('[data-field-error="token"]')).toHaveText("Invalid captcha response");
  expect(await verificationsFor(siteKey)).toHaveLength(0); // the wrong secret names no site
});

test("identification with an embedded captcha logs in once the box is ticked", async ({ page }) => {
  const slug = `captcha-login-${RUN}`;
  const siteKey = `site-${slug}`;
  await fakes("POST", "/_fake/captcha/sites", { site_key: siteKey, secret: "login-secret", provider: "turnstile" });
  await applyBlueprint(`
version: 1
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: ${slug}}
    attrs: {name: ${slug}, title: Captcha login, designation: authentication, authentication: none}
  - model: authentik_stages_captcha.captchastage
    id: captcha
    identifiers: {name: ${slug}-captcha}
    attrs:
      public_key: ${siteKey}
      private_key: login-secret
      js_url: ${FAKES_URL}/turnstile/v0/api.js
      api_url: ${FAKES_URL}/turnstile/v0/siteverify
      interactive: true
  - model: authentik_stages_password.passwordstage
    id: password
    identifiers: {name: ${slug}-password}
    attrs: {backends: [authentik.core.auth.InbuiltBackend]}
  - model: authentik_stages_identification.identificationstage
    id: identification
    identifiers: {name: ${slug}-identification}
    attrs:
      user_fields: [username]
      password_stage: !KeyOf password
      captcha_stage: !KeyOf captcha
  - model: authentik_stages_user_login.userloginstage
    id: login
    identifiers: {name: ${slug}-login}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf identification, order: 10}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf login, order: 20}
`);
  await page.goto(`/if/flow/${slug}/`);
  await hydrated(page);
  const form = stage(page, "ak-stage-identification");
  await form.locator('input[name="uid_field"]').fill(ADMIN_USERNAME);
  await form.locator('input[name="password"]').fill(ADMIN_PASSWORD);
  // Not ticked yet: refused like a wrong password.
  await form.locator('button[type="submit"]').click();
  await expect(form.locator('[data-field-error="non_field_errors"]')).toContainText("Failed to authenticate.");
  await form.locator('input[name="password"]').fill(ADMIN_PASSWORD);
  await form.getByTestId("fake-captcha-checkbox").check();
  await expect(form.locator('input[name="captcha_token"]')).toHaveValue(/^turnstile\./);
  await form.locator('button[type="submit"]').click();
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await expect(page.getByTestId("current-user")).toContainText(ADMIN_USERNAME);
  const seen = await verificationsFor(siteKey);
  expect(seen.map((v) => v.answer.success)).toEqual([false, true]);
});
