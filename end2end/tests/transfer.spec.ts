// What the login page costs on the wire: a first visit (empty cache) and a repeat visit (same
// browser, warm cache), measured with Chromium's own byte counts (headers + body as received,
// i.e. compressed) over everything the page loads until it has hydrated and the network is idle.
// The hashed bundle files must come brotli-compressed and immutable; the HTML is revalidated.
import type { CDPSession, Page } from "@playwright/test";
import { LOGIN_URL, expect, hydrated, stage, test } from "./fixtures";

const FIRST_VISIT_LIMIT = 400_000;
const REPEAT_VISIT_LIMIT = 10_000;

type Transfer = { url: string; bytes: number; encoding: string; cache: string; status: number };

/** Loads `url` in `page` and returns every request it made with its bytes on the wire. */
async function measuredVisit(page: Page, cdp: CDPSession, url: string): Promise<Transfer[]> {
  const byId = new Map<string, Transfer>();
  const redirects: Transfer[] = [];
  const sent = (e: any) => {
    if (e.redirectResponse) {
      redirects.push({
        url: e.redirectResponse.url,
        bytes: e.redirectResponse.encodedDataLength ?? 0,
        encoding: "",
        cache: "",
        status: e.redirectResponse.status,
      });
    }
    byId.set(e.requestId, { url: e.request.url, bytes: 0, encoding: "", cache: "", status: 0 });
  };
  const received = (e: any) => {
    const entry = byId.get(e.requestId);
    if (!entry) return;
    const headers = Object.fromEntries(
      Object.entries(e.response.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
    );
    entry.status = e.response.status;
    entry.encoding = headers["content-encoding"] ?? "";
    entry.cache = headers["cache-control"] ?? "";
  };
  const finished = (e: any) => {
    const entry = byId.get(e.requestId);
    if (entry) entry.bytes = e.encodedDataLength ?? 0;
  };
  cdp.on("Network.requestWillBeSent", sent);
  cdp.on("Network.responseReceived", received);
  cdp.on("Network.loadingFinished", finished);
  await page.goto(url);
  await hydrated(page);
  await expect(stage(page, "ak-stage-identification")).toBeVisible();
  await page.waitForLoadState("networkidle");
  cdp.off("Network.requestWillBeSent", sent);
  cdp.off("Network.responseReceived", received);
  cdp.off("Network.loadingFinished", finished);
  return [...redirects, ...byId.values()];
}

function report(label: string, transfers: Transfer[]): number {
  const total = transfers.reduce((sum, t) => sum + t.bytes, 0);
  console.log(`${label}: ${total} bytes on the wire in ${transfers.length} requests`);
  for (const t of transfers) {
    const path = new URL(t.url).pathname;
    console.log(
      `  ${String(t.bytes).padStart(9)}  ${t.status}  ${(t.encoding || "-").padEnd(4)}  ${path}  [${t.cache}]`,
    );
  }
  return total;
}

test("the login page transfers little on a first visit and almost nothing on a repeat", async ({
  page,
}) => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: false });

  const first = await measuredVisit(page, cdp, LOGIN_URL);
  const repeat = await measuredVisit(page, cdp, LOGIN_URL);
  const firstTotal = report("first visit", first);
  const repeatTotal = report("repeat visit", repeat);

  const bundle = first.filter((t) => /\/pkg\/.+\.(wasm|js|css)$/.test(new URL(t.url).pathname));
  expect(bundle.map((t) => new URL(t.url).pathname.split(".").pop()).sort()).toEqual(["css", "js", "wasm"]);
  for (const t of bundle) {
    expect(t.encoding, t.url).toBe("br");
    expect(t.cache, t.url).toBe("public, max-age=31536000, immutable");
  }
  expect(firstTotal).toBeLessThanOrEqual(FIRST_VISIT_LIMIT);
  expect(repeatTotal).toBeLessThanOrEqual(REPEAT_VISIT_LIMIT);
});
