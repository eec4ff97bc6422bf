#!/usr/bin/env node
// Login latency over HTTP against the flow executor API (run by hand, not in CI).
//
//   node end2end/bench/login-latency.mjs [N=50]
//   env: KEYFLOW_BASE_URL (http://localhost:3000), KEYFLOW_BENCH_USER (akadmin),
//        KEYFLOW_BENCH_PASSWORD (or KEYFLOW_BOOTSTRAP_PASSWORD), KEYFLOW_BENCH_FLOW
//        (default-authentication-flow), KEYFLOW_BENCH_WARMUP (3)
//
// One login = GET the executor, POST identification, POST password (cookies followed, redirects
// followed by hand so their cookies are kept), each with a fresh cookie jar. Prints median and
// p95 wall time of whole logins and of each request. Note: password hashing (argon2id) is
// deliberately slow, so the password POST dominates.
const base = process.env.KEYFLOW_BASE_URL ?? "http://localhost:3000";
const user = process.env.KEYFLOW_BENCH_USER ?? "akadmin";
const password = process.env.KEYFLOW_BENCH_PASSWORD ?? process.env.KEYFLOW_BOOTSTRAP_PASSWORD;
const flow = process.env.KEYFLOW_BENCH_FLOW ?? "default-authentication-flow";
const n = Number.parseInt(process.argv[2] ?? process.env.KEYFLOW_BENCH_N ?? "50", 10);
const warmup = Number.parseInt(process.env.KEYFLOW_BENCH_WARMUP ?? "3", 10);
if (!password) {
  console.error("set KEYFLOW_BENCH_PASSWORD (or KEYFLOW_BOOTSTRAP_PASSWORD)");
  process.exit(2);
}
if (!(n > 0) || n > 10_000) {
  console.error("N must be 1..10000");
  process.exit(2);
}
const executor = `/api/v3/flows/executor/${flow}/?query=`;

class Jar {
  cookies = new Map();
  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
      if (expired || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

async function request(jar, method, path, body) {
  let url = new URL(path, base);
  for (let hop = 0; hop < 10; hop++) {
    const headers = { Accept: "application/json", Cookie: jar.header() };
    const csrf = jar.cookies.get("keyflow_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "manual",
    });
    jar.store(response);
    if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
      await response.arrayBuffer();
      url = new URL(response.headers.get("location"), url);
      method = "GET"; // authentik answers a passed POST with 302 → GET the executor
      body = undefined;
      continue;
    }
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${url.pathname} → ${response.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text);
  }
  throw new Error("too many redirects");
}

function expectComponent(challenge, component, step) {
  if (challenge.component !== component) {
    throw new Error(`${step}: expected ${component}, got ${JSON.stringify(challenge).slice(0, 300)}`);
  }
}

async function oneLogin() {
  const jar = new Jar();
  const times = [];
  let t = performance.now();
  const first = await request(jar, "GET", executor);
  times.push(performance.now() - t);
  expectComponent(first, "ak-stage-identification", "GET");

  t = performance.now();
  const second = await request(jar, "POST", executor, { component: "ak-stage-identification", uid_field: user });
  times.push(performance.now() - t);
  expectComponent(second, "ak-stage-password", "identification");

  t = performance.now();
  const third = await request(jar, "POST", executor, { component: "ak-stage-password", password });
  times.push(performance.now() - t);
  expectComponent(third, "xak-flow-redirect", "password");
  return times;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
const fmt = (ms) => `${ms.toFixed(1)} ms`;

for (let i = 0; i < warmup; i++) await oneLogin();
const totals = [];
const steps = [[], [], []];
const started = performance.now();
for (let i = 0; i < n; i++) {
  const t = performance.now();
  const parts = await oneLogin();
  totals.push(performance.now() - t);
  parts.forEach((ms, j) => steps[j].push(ms));
}
const elapsed = performance.now() - started;
const report = (label, values) => {
  const sorted = [...values].sort((a, b) => a - b);
  console.log(
    `${label.padEnd(22)} median ${fmt(quantile(sorted, 0.5)).padStart(10)}   p95 ${fmt(quantile(sorted, 0.95)).padStart(10)}   max ${fmt(sorted.at(-1)).padStart(10)}`,
  );
};
console.log(`keyflow login latency: ${n} logins (+${warmup} warm-up) as ${user} against ${base}`);
report("full login", totals);
report("  GET executor", steps[0]);
report("  POST identification", steps[1]);
report("  POST password", steps[2]);
console.log(`throughput (sequential): ${((n * 1000) / elapsed).toFixed(1)} logins/s`);
