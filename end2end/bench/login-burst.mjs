#!/usr/bin/env node
// A burst of logins against keyflow, watching the server's memory (run by hand, not in CI).
//
//   node end2end/bench/login-burst.mjs target/release/keyflow    # starts its own server
//   KEYFLOW_BASE_URL=http://localhost:3000 KEYFLOW_BENCH_PID=<pid> \
//     KEYFLOW_BENCH_PASSWORD=… node end2end/bench/login-burst.mjs  # targets a running one
//
// env: KEYFLOW_BENCH_CLIENTS (48) parallel clients sending wrong passwords for
//      KEYFLOW_BENCH_SECONDS (10); meanwhile a correct login starts every
//      KEYFLOW_BENCH_CORRECT_EVERY_MS (500); KEYFLOW_BENCH_AFTER (10) seconds of quiet follow.
//      KEYFLOW_BENCH_USER (akadmin), KEYFLOW_BENCH_FLOW (default-authentication-flow),
//      KEYFLOW_BENCH_PORT (3917, own server only). Any KEYFLOW_* reaches an own server.
//
// One attempt = GET the executor, POST identification, POST password, each client with a fresh
// cookie jar per attempt. The server's VmRSS (/proc/<pid>/status) is sampled every 100 ms.
// Prints RSS idle / peak during the burst / 10 s after, attempts answered per second,
// "try again" answers, and failed correct logins.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = process.env;
const clients = Number.parseInt(env.KEYFLOW_BENCH_CLIENTS ?? "48", 10);
const burstSeconds = Number.parseFloat(env.KEYFLOW_BENCH_SECONDS ?? "10");
const afterSeconds = Number.parseFloat(env.KEYFLOW_BENCH_AFTER ?? "10");
const correctEveryMs = Number.parseInt(env.KEYFLOW_BENCH_CORRECT_EVERY_MS ?? "500", 10);
const user = env.KEYFLOW_BENCH_USER ?? "akadmin";
const flow = env.KEYFLOW_BENCH_FLOW ?? "default-authentication-flow";
const binary = process.argv[2];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let base = env.KEYFLOW_BASE_URL ?? "http://localhost:3000";
let pid = Number.parseInt(env.KEYFLOW_BENCH_PID ?? "0", 10);
let password = env.KEYFLOW_BENCH_PASSWORD ?? env.KEYFLOW_BOOTSTRAP_PASSWORD;
let server;
let workdir;

if (binary) {
  const port = env.KEYFLOW_BENCH_PORT ?? "3917";
  workdir = mkdtempSync(join(tmpdir(), "keyflow-burst-"));
  password = "Burst-Bench-Pass-1";
  base = `http://127.0.0.1:${port}`;
  const log = openSync(join(workdir, "server.log"), "w");
  server = spawn(binary, ["serve"], {
    env: {
      ...env,
      DATABASE_URL: `sqlite://${join(workdir, "keyflow.db")}?mode=rwc`,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      KEYFLOW_BOOTSTRAP_PASSWORD: password,
      KEYFLOW_LOG_LEVEL: env.KEYFLOW_LOG_LEVEL ?? "warn",
    },
    stdio: ["ignore", log, log],
  });
  pid = server.pid;
  let up = false;
  for (let i = 0; i < 240 && !up; i++) {
    await sleep(250);
    up = await fetch(`${base}/-/health/ready/`).then((r) => r.ok, () => false);
  }
  if (!up) {
    console.error(`server did not start; log in ${workdir}/server.log`);
    server.kill("SIGKILL");
    process.exit(1);
  }
}
if (!password || !pid) {
  console.error("give a binary to start, or KEYFLOW_BENCH_PID and KEYFLOW_BENCH_PASSWORD");
  process.exit(2);
}

const rssMiB = () => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = Number.parseInt(/VmRSS:\s+(\d+)/.exec(status)[1], 10);
  return kib / 1024;
};

class Jar {
  cookies = new Map();
  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === "" || /max-age\s*=\s*0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

const executor = `/api/v3/flows/executor/${flow}/?query=`;
async function call(jar, method, body) {
  const headers = { Accept: "application/json", Cookie: jar.header() };
  const csrf = jar.cookies.get("keyflow_csrf");
  if (csrf) headers["X-CSRF-Token"] = csrf;
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(new URL(executor, base), {
    method,
    headers,
    body: body && JSON.stringify(body),
    redirect: "manual",
  });
  jar.store(response);
  const text = await response.text();
  if (response.status !== 200) return { status: response.status, text };
  return { status: 200, challenge: JSON.parse(text) };
}

/// One login attempt: "ok" (logged in), "wrong" (refused password), "busy" (try again), or
/// "error: …".
async function attempt(pw) {
  try {
    const jar = new Jar();
    const first = await call(jar, "GET");
    if (first.challenge?.component !== "ak-stage-identification") return `error: GET ${first.status}`;
    const ident = await call(jar, "POST", { component: "ak-stage-identification", uid_field: user });
    if (ident.challenge?.component !== "ak-stage-password") return `error: identification ${ident.status}`;
    const done = await call(jar, "POST", { component: "ak-stage-password", password: pw });
    const c = done.challenge;
    if (!c) return `error: password HTTP ${done.status} ${done.text?.slice(0, 120)}`;
    if (c.component === "xak-flow-redirect") return "ok";
    const codes = Object.values(c.response_errors ?? {}).flat().map((e) => e.code);
    if (codes.includes("busy")) return "busy";
    if (c.component === "ak-stage-password" && codes.length) return "wrong";
    return `error: ${c.component} ${JSON.stringify(c.response_errors ?? {})}`;
  } catch (error) {
    return `error: ${error.message}`;
  }
}

const tally = (map, key) => map.set(key, (map.get(key) ?? 0) + 1);
const answers = new Map();
const correct = new Map();

// Warm up (a correct login), then idle RSS.
const warm = await attempt(password);
if (warm !== "ok") {
  console.error(`the correct password does not log in: ${warm}`);
  server?.kill("SIGKILL");
  process.exit(1);
}
await sleep(1000);
const idle = rssMiB();

let peak = idle;
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    peak = Math.max(peak, rssMiB());
    await sleep(100);
  }
})();

const started = performance.now();
const deadline = started + burstSeconds * 1000;
const wrongClients = Array.from({ length: clients }, async (_, i) => {
  let n = 0;
  while (performance.now() < deadline) tally(answers, await attempt(`wrong-${i}-${n++}`));
});
const correctLogins = [];
const correctClient = (async () => {
  while (performance.now() < deadline) {
    correctLogins.push(attempt(password).then((r) => tally(correct, r)));
    await sleep(correctEveryMs);
  }
})();
await Promise.all([...wrongClients, correctClient]);
await Promise.all(correctLogins);
const elapsed = (performance.now() - started) / 1000;
sampling = false;
await sampler;
await sleep(afterSeconds * 1000);
const after = rssMiB();

const answered = (answers.get("wrong") ?? 0) + (correct.get("ok") ?? 0);
const failedCorrect = [...correct].filter(([k]) => k !== "ok").reduce((s, [, v]) => s + v, 0);
const errors = [...answers, ...correct].filter(([k]) => k.startsWith("error"));
console.log(`keyflow login burst: ${clients} clients × ${burstSeconds} s wrong passwords, a correct login every ${correctEveryMs} ms, against ${base} (pid ${pid})`);
console.log(`RSS idle before          ${idle.toFixed(1)} MiB`);
console.log(`RSS peak during burst    ${peak.toFixed(1)} MiB`);
console.log(`RSS ${afterSeconds} s after burst     ${after.toFixed(1)} MiB`);
console.log(`password checks answered ${answered} in ${elapsed.toFixed(1)} s = ${(answered / elapsed).toFixed(1)} logins/s`);
console.log(`"try again" answers      ${(answers.get("busy") ?? 0) + (correct.get("busy") ?? 0)}`);
console.log(`correct logins           ${correct.get("ok") ?? 0} ok, ${failedCorrect} failed`);
if (errors.length) console.log(`errors: ${JSON.stringify(errors).slice(0, 400)}`);

if (server) {
  server.kill("SIGTERM");
  await sleep(500);
  rmSync(workdir, { recursive: true, force: true });
}
process.exit(failedCorrect > 0 || errors.length ? 1 : 0);
