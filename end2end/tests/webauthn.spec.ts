// WebAuthn end to end: registration in the set-up flow, second-factor login, passwordless login,
// passkey autofill on identification, and refusal of assertions made for another origin or
// replayed. The browser side uses Chromium's DevTools virtual authenticator; the refusal tests
// sign assertions in Node with the key exported from that authenticator, so everything but the
// one property under test is a valid assertion (the same code path is shown to succeed).
import { createHash, createPrivateKey, sign } from "node:crypto";
import { request as playwrightRequest, type APIRequestContext, type CDPSession, type Page } from "@playwright/test";

import { API_TOKEN, LOGOUT_URL, ME_URL, expect, hydrated, login, stage, test } from "./fixtures";

const BASE = process.env.KEYFLOW_BASE_URL ?? "http://localhost:3000";
const ORIGIN = new URL(BASE).origin;
const LOGIN_FLOW = "webauthn-e2e-login";
const PASSWORDLESS_FLOW = "webauthn-e2e-passwordless";
const PASSKEY_FLOW = "webauthn-e2e-passkey";
const SETUP_URL = "/if/flow/default-authenticator-webauthn-setup/";
const VALIDATE = "ak-stage-authenticator-validate";
const PASSWORD = "Webauthn-Pass-123";

/** Flows the tests drive: password then security key; security key alone; passkey autofill. */
const FLOWS_BLUEPRINT = `
version: 1
metadata:
  name: keyflow e2e - webauthn flows
entries:
  - model: authentik_stages_identification.identificationstage
    id: identification
    identifiers: {name: webauthn-e2e-identification}
    attrs: {user_fields: [username]}
  - model: authentik_stages_password.passwordstage
    id: password
    identifiers: {name: webauthn-e2e-password}
    attrs: {backends: [authentik.core.auth.InbuiltBackend]}
  - model: authentik_stages_authenticator_validate.authenticatorvalidatestage
    id: validate
    identifiers: {name: webauthn-e2e-validate}
    attrs: {device_classes: [webauthn], not_configured_action: deny}
  - model: authentik_stages_identification.identificationstage
    id: passkey-identification
    identifiers: {name: webauthn-e2e-passkey-identification}
    attrs: {user_fields: [username], webauthn_stage: !KeyOf validate}
  - model: authentik_stages_user_login.userloginstage
    id: user-login
    identifiers: {name: webauthn-e2e-user-login}

  - model: authentik_flows.flow
    id: login-flow
    identifiers: {slug: ${LOGIN_FLOW}}
    attrs: {name: WebAuthn e2e login, title: WebAuthn e2e login, designation: authentication, authentication: none}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf login-flow, stage: !KeyOf identification, order: 10}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf login-flow, stage: !KeyOf password, order: 20}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf login-flow, stage: !KeyOf validate, order: 30}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf login-flow, stage: !KeyOf user-login, order: 100}

  - model: authentik_flows.flow
    id: passwordless-flow
    identifiers: {slug: ${PASSWORDLESS_FLOW}}
    attrs: {name: WebAuthn e2e passwordless, title: Passwordless, designation: authentication, authentication: none}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf passwordless-flow, stage: !KeyOf validate, order: 10}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf passwordless-flow, stage: !KeyOf user-login, order: 100}

  - model: authentik_flows.flow
    id: passkey-flow
    identifiers: {slug: ${PASSKEY_FLOW}}
    attrs: {name: WebAuthn e2e passkey, title: Passkey, designation: authentication, authentication: none}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf passkey-flow, stage: !KeyOf passkey-identification, order: 10}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf passkey-flow, stage: !KeyOf user-login, order: 100}
`;

/** A credential as the virtual authenticator exports it (binary fields standard base64). */
type VirtualCredential = {
  credentialId: string;
  isResidentCredential: boolean;
  rpId: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
};

const username = `webauthn-${Date.now()}`;
let credential: VirtualCredential | undefined;
/** Counter for Node-signed assertions: always ahead of what the server has seen. */
let nodeCounter = 1000;

async function admin(): Promise<APIRequestContext> {
  return playwrightRequest.newContext({
    baseURL: BASE,
    extraHTTPHeaders: { Authorization: `Bearer ${API_TOKEN}` },
  });
}

async function addAuthenticator(page: Page): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/** A virtual authenticator that already holds the credential registered in the first test. */
async function authenticatorWithCredential(page: Page) {
  expect(credential, "the registration test ran first").toBeDefined();
  const authenticator = await addAuthenticator(page);
  await authenticator.cdp.send("WebAuthn.addCredential", {
    authenticatorId: authenticator.authenticatorId,
    credential: credential!,
  });
  return authenticator;
}

/** Keeps the exported credential's counter in step after the browser used it. */
async function remember({ cdp, authenticatorId }: { cdp: CDPSession; authenticatorId: string }) {
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  if (credentials.length > 0) credential = { ...credential!, signCount: credentials[0].signCount };
}

const b64url = (data: Buffer | string) =>
  (typeof data === "string" ? Buffer.from(data, "base64") : data).toString("base64url");

/** A WebAuthn assertion signed with the exported key, for `challenge` as seen from `origin`. */
function signAssertion(challenge: string, origin: string) {
  const cred = credential!;
  nodeCounter += 1;
  const clientData = Buffer.from(
    JSON.stringify({ type: "webauthn.get", challenge, origin, crossOrigin: false }),
  );
  const counter = Buffer.alloc(4);
  counter.writeUInt32BE(nodeCounter);
  const authenticatorData = Buffer.concat([
    createHash("sha256").update(cred.rpId).digest(),
    Buffer.from([0x05]), // user present + user verified
    counter,
  ]);
  const key = createPrivateKey({ key: Buffer.from(cred.privateKey, "base64"), format: "der", type: "pkcs8" });
  const signature = sign(
    "sha256",
    Buffer.concat([authenticatorData, createHash("sha256").update(clientData).digest()]),
    key,
  );
  return {
    id: b64url(cred.credentialId),
    rawId: b64url(cred.credentialId),
    type: "public-key",
    response: {
      authenticatorData: b64url(authenticatorData),
      clientDataJSON: b64url(clientData),
      signature: b64url(signature),
      userHandle: cred.userHandle ? b64url(cred.userHandle) : null,
    },
  };
}

const executor = (slug: string) => `/api/v3/flows/executor/${slug}/?query=`;

/** A fresh anonymous browser-less session on `slug`, with its first challenge. */
async function anonymousFlow(slug: string) {
  const api = await playwrightRequest.newContext({ baseURL: BASE });
  const first = await api.get(executor(slug));
  expect(first.status()).toBe(200);
  return { api, challenge: await first.json() };
}

function webauthnOptions(challenge: any) {
  expect(challenge.component).toBe(VALIDATE);
  const device = challenge.device_challenges.find((d: any) => d.device_class === "webauthn");
  expect(device, JSON.stringify(challenge)).toBeDefined();
  return device;
}

test.describe.serial("WebAuthn", () => {
  test.beforeAll(async () => {
    const api = await admin();
    const applied = await api.post("/api/v3/managed/blueprints/apply/", {
      data: { content: FLOWS_BLUEPRINT },
    });
    expect(applied.status(), await applied.text()).toBeLessThan(300);
    const created = await api.post("/api/v3/core/users/", {
      data: { username, name: "WebAuthn Tester", email: `${username}@example.com` },
    });
    expect(created.status(), await created.text()).toBe(201);
    const { pk } = await created.json();
    const password = await api.post(`/api/v3/core/users/${pk}/set_password/`, {
      data: { password: PASSWORD },
    });
    expect(password.status(), await password.text()).toBeLessThan(300);
    await api.dispose();
  });

  test("the set-up flow registers a passkey, listed with the user's authenticators", async ({ page }) => {
    const { cdp, authenticatorId } = await addAuthenticator(page);
    await login(page, { username, password: PASSWORD });
    await page.goto(SETUP_URL);
    // The stage asks the browser as soon as it is hydrated; the flow then ends on "/".
    await expect(page).toHaveURL((url) => url.pathname === "/");
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0].rpId).toBe("localhost");
    credential = credentials[0] as VirtualCredential;

    const devices = await (await page.request.get("/api/v3/authenticators/all/")).json();
    const webauthn = devices.filter((d: any) => JSON.stringify(d).includes("webauthn"));
    expect(webauthn, JSON.stringify(devices)).toHaveLength(1);
  });

  test("registering the same authenticator again is refused by excludeCredentials", async ({ page }) => {
    const authenticator = await authenticatorWithCredential(page);
    await login(page, { username, password: PASSWORD });
    await page.goto(SETUP_URL);
    await hydrated(page);
    const setup = stage(page, "ak-stage-authenticator-webauthn");
    await expect(setup.getByTestId("webauthn-error")).toContainText("already registered");
    await expect(setup.getByTestId("webauthn-start")).toHaveText("Try again");
    await remember(authenticator);
  });

  test("second factor: password, then the security key", async ({ page }) => {
    const { cdp, authenticatorId } = await authenticatorWithCredential(page);
    await page.goto(`/if/flow/${LOGIN_FLOW}/`);
    await hydrated(page);
    await stage(page, "ak-stage-identification").locator('input[name="uid_field"]').fill(username);
    await stage(page, "ak-stage-identification").locator('button[type="submit"]').click();
    await stage(page, "ak-stage-password").locator('input[name="password"]').fill(PASSWORD);
    await stage(page, "ak-stage-password").locator('button[type="submit"]').click();
    // The validation stage asks the authenticator at once and the login completes.
    await expect(page).toHaveURL((url) => url.pathname === "/");
    const me = await (await page.request.get(ME_URL)).json();
    expect(me.user.username).toBe(username);
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    expect(credentials[0].signCount).toBeGreaterThan(credential!.signCount);
    await remember({ cdp, authenticatorId });
  });

  test("passwordless: the passkey alone signs the user in", async ({ page }) => {
    const authenticator = await authenticatorWithCredential(page);
    await page.goto(`/if/flow/${PASSWORDLESS_FLOW}/`);
    await expect(page).toHaveURL((url) => url.pathname === "/");
    const me = await page.request.get(ME_URL);
    expect(me.status()).toBe(200);
    expect((await me.json()).user.username).toBe(username);
    await remember(authenticator);
    await page.goto(LOGOUT_URL);
  });

  test("assertions for another origin or replayed ones are refused", async () => {
    const { api, challenge } = await anonymousFlow(PASSWORDLESS_FLOW);
    const first = webauthnOptions(challenge);
    expect(first.device_uid).toBe("-1");
    expect(first.challenge.allowCredentials).toEqual([]);
    expect(first.challenge.rpId).toBe("localhost");

    // Signed correctly, but in a page of another origin: refused.
    const phished = await api.post(executor(PASSWORDLESS_FLOW), {
      data: { component: VALIDATE, webauthn: signAssertion(first.challenge.challenge, "http://evil.example") },
    });
    const refused = await phished.json();
    expect(refused.component).toBe(VALIDATE);
    expect(refused.response_errors.webauthn[0].string).toBe("Assertion failed");

    // The same assertion again, now for the fresh challenge and the right origin: accepted.
    const second = webauthnOptions(refused);
    expect(second.challenge.challenge).not.toBe(first.challenge.challenge);
    const good = signAssertion(second.challenge.challenge, ORIGIN);
    const accepted = await (
      await api.post(executor(PASSWORDLESS_FLOW), { data: { component: VALIDATE, webauthn: good } })
    ).json();
    expect(accepted).toEqual({ component: "xak-flow-redirect", to: "/" });
    expect((await (await api.get(ME_URL)).json()).user.username).toBe(username);
    await api.dispose();

    // Replaying that accepted assertion in a new session (a new challenge) fails.
    const replay = await anonymousFlow(PASSWORDLESS_FLOW);
    const replayed = await (
      await replay.api.post(executor(PASSWORDLESS_FLOW), { data: { component: VALIDATE, webauthn: good } })
    ).json();
    expect(replayed.response_errors.webauthn[0].string).toBe("Assertion failed");
    expect((await replay.api.get(ME_URL)).status()).toBe(403);
    await replay.api.dispose();
  });

  test("identification offers passkey autofill and accepts a passkey", async ({ page }) => {
    await page.goto(`/if/flow/${PASSKEY_FLOW}/`);
    await hydrated(page);
    await expect(stage(page, "ak-stage-identification").locator('input[name="uid_field"]')).toHaveAttribute(
      "autocomplete",
      "username webauthn",
    );

    const { api, challenge } = await anonymousFlow(PASSKEY_FLOW);
    expect(challenge.component).toBe("ak-stage-identification");
    const options = challenge.passkey_challenge;
    expect(options.allowCredentials).toEqual([]);
    expect(options.rpId).toBe("localhost");
    const answer = await (
      await api.post(executor(PASSKEY_FLOW), {
        data: { component: "ak-stage-identification", passkey: signAssertion(options.challenge, ORIGIN) },
      })
    ).json();
    expect(answer).toEqual({ component: "xak-flow-redirect", to: "/" });
    expect((await (await api.get(ME_URL)).json()).user.username).toBe(username);
    await api.dispose();
  });
});
