// Shared test fixture: every test fails on a console error or an uncaught page error, and helpers
// speak keyflow's DOM contract (see README "Tests" / the UI's data-* attributes).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test as base, expect, request as playwrightRequest, type APIRequestContext, type Page } from "@playwright/test";

export const BASE_URL = process.env.KEYFLOW_BASE_URL ?? "http://localhost:3000";
export const ADMIN_USERNAME = "akadmin";
/** Must match KEYFLOW_BOOTSTRAP_PASSWORD of the server under test (.ci/test sets both). */
export const ADMIN_PASSWORD = process.env.KEYFLOW_TEST_PASSWORD ?? "Akadmin-Pass-123";
/** The server's KEYFLOW_BOOTSTRAP_TOKEN (an API token for akadmin). */
export const API_TOKEN = process.env.KEYFLOW_TEST_TOKEN ?? "";

export const LOGIN_URL = "/flows/-/default/authentication/";
export const LOGOUT_URL = "/flows/-/default/invalidation/";
export const ME_URL = "/api/v3/core/users/me/";

type Fixtures = { consoleErrors: string[] };

export const test = base.extend<Fixtures>({
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") {
          const where = message.location();
          errors.push(`console.error: ${message.text()} (${where.url}:${where.lineNumber})`);
        }
      });
      page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
      page.on("crash", () => errors.push("page crashed"));
      await use(errors);
      expect(errors, "console errors / page errors during the test").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Waits until the WASM bundle ran and hydration finished. */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
}

export const stage = (page: Page, component: string) =>
  page.locator(`[data-component="${component}"]`);

/** Opens the default authentication flow (optionally waiting for hydration). */
export async function openLogin(page: Page, { js = true } = {}): Promise<void> {
  await page.goto(LOGIN_URL);
  if (js) await hydrated(page);
  await expect(stage(page, "ak-stage-identification")).toBeVisible();
}

export async function submitIdentification(page: Page, uid: string): Promise<void> {
  const form = stage(page, "ak-stage-identification");
  await form.locator('input[name="uid_field"]').fill(uid);
  await form.locator('button[type="submit"]').click();
  await expect(stage(page, "ak-stage-password")).toBeVisible();
}

export async function submitPassword(page: Page, password: string): Promise<void> {
  const form = stage(page, "ak-stage-password");
  await form.locator('input[name="password"]').fill(password);
  await form.locator('button[type="submit"]').click();
}

/** A full login as `username`, ending on `/` with the user shown. */
export async function login(
  page: Page,
  { username = ADMIN_USERNAME, password = ADMIN_PASSWORD, js = true } = {},
): Promise<void> {
  await openLogin(page, { js });
  await submitIdentification(page, username);
  await submitPassword(page, password);
  await expect(page).toHaveURL((url) => url.pathname === "/");
  await expect(page.getByTestId("current-user")).toContainText(username);
}

// ---- Mail: the SMTP sink .ci/test starts beside the server (end2end/smtp_sink.py) ----

/** The sink's directory (one JSON file per accepted message); unset when no sink runs. */
export const MAIL_DIR = process.env.KEYFLOW_MAIL_DIR ?? "";

/** One message as the sink stored it, with the links found in its parts. */
export type Mail = {
  file: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** Every http(s) URL of the text part, then those of the HTML part's `href`s, deduplicated. */
  links: string[];
};

/** Files already handed out by `nextMail`, so each message is returned once per worker. */
const takenMails = new Set<string>();

function readMail(file: string): Mail {
  const raw = JSON.parse(readFileSync(path.join(MAIL_DIR, file), "utf8")) as {
    rcpt_tos: string[];
    headers: [string, string][];
    text: string | null;
    html: string | null;
  };
  const text = raw.text ?? "";
  const html = raw.html ?? "";
  const fromText = text.match(/https?:\/\/[^\s<>"']+/g) ?? [];
  const fromHtml = [...html.matchAll(/href="([^"]+)"/g)].map((m) =>
    m[1].replace(/&amp;/g, "&").replace(/&#x3D;|&#61;/g, "="),
  );
  return {
    file,
    to: raw.rcpt_tos.map((a) => a.toLowerCase()),
    subject: raw.headers.find(([name]) => name.toLowerCase() === "subject")?.[1] ?? "",
    text,
    html,
    links: [...new Set([...fromText, ...fromHtml])],
  };
}

/** Every message to `address` in the sink, oldest first (taken or not). */
export function mailsTo(address: string): Mail[] {
  if (!MAIL_DIR || !existsSync(MAIL_DIR)) return [];
  const wanted = address.toLowerCase();
  return readdirSync(MAIL_DIR)
    .filter((name) => name.endsWith(".json") && !name.startsWith("."))
    .sort() // names start with a zero-padded nanosecond timestamp
    .map(readMail)
    .filter((mail) => mail.to.includes(wanted));
}

/**
 * Waits for the next message to `address` that no earlier call returned (the mail is delivered
 * by keyflow's background queue, so it may take a moment). Fails the test after `timeout` ms.
 */
export async function nextMail(address: string, { timeout = 20_000 } = {}): Promise<Mail> {
  if (!MAIL_DIR) throw new Error("KEYFLOW_MAIL_DIR is not set (.ci/test sets it with the SMTP sink)");
  const deadline = Date.now() + timeout;
  for (;;) {
    const mail = mailsTo(address).find((m) => !takenMails.has(m.file));
    if (mail) {
      takenMails.add(mail.file);
      return mail;
    }
    if (Date.now() > deadline) throw new Error(`no mail to ${address} within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The one link in `mail` to a flow page (`/if/flow/<slug>/…`), as a path with its query. */
export function flowLink(mail: Mail, slug: string): string {
  const links = mail.links
    .map((link) => new URL(link))
    .filter((url) => url.pathname === `/if/flow/${slug}/`);
  const distinct = [...new Set(links.map((url) => url.pathname + url.search))];
  expect(distinct, `links to /if/flow/${slug}/ in:\n${mail.text}`).toHaveLength(1);
  return distinct[0];
}

// ---- Admin API (the server's bootstrap token) ----

/** An API client authenticated with the bootstrap token; dispose it when done. */
export async function adminApi(): Promise<APIRequestContext> {
  return playwrightRequest.newContext({
    baseURL: BASE_URL,
    extraHTTPHeaders: { Authorization: `Bearer ${API_TOKEN}` },
  });
}

/** Applies a blueprint through `POST /api/v3/managed/blueprints/apply/`. */
export async function applyBlueprint(content: string): Promise<void> {
  const api = await adminApi();
  try {
    const applied = await api.post("/api/v3/managed/blueprints/apply/", { data: { content } });
    expect(applied.status(), await applied.text()).toBeLessThan(300);
  } finally {
    await api.dispose();
  }
}

/** Creates a user with a password; returns its pk. */
export async function createUser(username: string, password: string, email = `${username}@example.com`): Promise<number> {
  const api = await adminApi();
  try {
    const created = await api.post("/api/v3/core/users/", { data: { username, name: username, email } });
    expect(created.status(), await created.text()).toBe(201);
    const { pk } = await created.json();
    const set = await api.post(`/api/v3/core/users/${pk}/set_password/`, { data: { password } });
    expect(set.status(), await set.text()).toBeLessThan(300);
    return pk;
  } finally {
    await api.dispose();
  }
}

/** The user named `username` as the admin API lists it, or undefined. */
export async function findUser(username: string): Promise<Record<string, unknown> | undefined> {
  const api = await adminApi();
  try {
    const listed = await api.get(`/api/v3/core/users/?username=${encodeURIComponent(username)}`);
    expect(listed.status(), await listed.text()).toBe(200);
    const { results } = (await listed.json()) as { results: Record<string, unknown>[] };
    return results.find((u) => u.username === username);
  } finally {
    await api.dispose();
  }
}

// ---- Fake outside services: end2end/fakes/serve.py, started by .ci/e2e-lib.sh ----

export const FAKES_URL = process.env.KEYFLOW_FAKES_URL ?? "";

/** Calls a `/_fake/...` control of the fake services; returns the JSON answer. */
export async function fakes(method: "GET" | "POST", path: string, data?: unknown): Promise<unknown> {
  if (!FAKES_URL) throw new Error("KEYFLOW_FAKES_URL is not set (.ci/e2e-lib.sh starts the fakes)");
  const api = await playwrightRequest.newContext({ baseURL: FAKES_URL });
  try {
    const answer = method === "GET" ? await api.get(path) : await api.post(path, { data });
    expect(answer.status(), await answer.text()).toBeLessThan(300);
    return await answer.json();
  } finally {
    await api.dispose();
  }
}
