// `npm run bench`: hot paths measured against a no-op route of the same worker, on the same
// runtime (one Miniflare, direct sockets), under the same load, in one run. Ratios are what
// to compare across machines; absolute figures depend on the box.
//
// Environment: BENCH_SECONDS (per route, default 10), BENCH_CONNECTIONS (default 16).

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import autocannon from "autocannon";
import { ROOT, WORKERS, startStack } from "./stack.mjs";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);

const dir = mkdtempSync(join(tmpdir(), "tollgate-bench-"));
const stack = await startStack({ persistDir: dir, quiet: true });

async function post(url, body, headers = {}) {
  const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()).data;
}

// Arrange: a developer, a project without rate limits (the bench measures throughput, not
// the limiter), an unlimited default tier and one end user.
const { token } = await post(`${stack.urls.platform}/dev/token`, { sub: "bench" });
const { project, secretKey } = await post(`${stack.urls.platform}/v1/projects`, { name: "Bench", type: "saas" }, { Authorization: `Bearer ${token}` });
const db = await stack.d1();
await db.prepare("UPDATE projects SET rate_limit_secret = 1000000, rate_limit_publishable = 1000000 WHERE id = ?1").bind(project.id).run();
await db
  .prepare("INSERT INTO tiers (id, project_id, name, display_name, price, usage_limit, is_default, created_at, updated_at) VALUES ('tier_bench', ?1, 'free', 'Free', 0, NULL, 1, 0, 0)")
  .bind(project.id)
  .run();
const customer = await post(`${stack.urls.api}/api/customers`, { email: "bench@example.test" }, { Authorization: `Bearer ${secretKey}` });

const routes = [
  { name: "api no-op (GET /dev/noop)", method: "GET", path: "/dev/noop", headers: {} },
  {
    name: "sk POST /api/data (auth + exact increment)",
    method: "POST",
    path: "/api/data",
    headers: { Authorization: `Bearer ${secretKey}`, "X-User-Id": customer.id },
  },
  { name: "pk GET /api/tiers", method: "GET", path: "/api/tiers", headers: { "X-Publishable-Key": project.publishableKey } },
];

async function measure(route) {
  const options = { url: `${stack.urls.api}${route.path}`, method: route.method, headers: route.headers, connections };
  await autocannon({ ...options, duration: 2 }); // warm the isolate and its caches
  const result = await autocannon({ ...options, duration: seconds });
  const failed = result.non2xx + result.errors + result.timeouts;
  return { ...route, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, failed };
}

const results = [];
for (const route of routes) results.push(await measure(route));
await stack.stop();
rmSync(dir, { recursive: true, force: true });

const baseline = results[0].rps;
console.log(`\nTollgate bench — ${seconds}s per route, ${connections} connections, one run, api worker on Miniflare direct socket\n`);
console.log(`${"route".padEnd(44)} ${"req/s".padStart(8)} ${"p50 ms".padStart(7)} ${"p99 ms".padStart(7)} ${"ratio".padStart(6)} ${"failed".padStart(7)}`);
for (const r of results) {
  console.log(
    `${r.name.padEnd(44)} ${r.rps.toFixed(0).padStart(8)} ${String(r.p50).padStart(7)} ${String(r.p99).padStart(7)} ${(r.rps / baseline).toFixed(3).padStart(6)} ${String(r.failed).padStart(7)}`,
  );
}
console.log("\nwasm per worker (gzip -9):");
for (const w of WORKERS) {
  const wasm = readFileSync(join(ROOT, "workers", w, "build", "index_bg.wasm"));
  console.log(`  ${w.padEnd(16)} ${String(gzipSync(wasm, { level: 9 }).length).padStart(8)} bytes`);
}
if (results.some((r) => r.failed > 0)) {
  console.error("\nSome requests failed: the figures above are not valid.");
  process.exitCode = 1;
}
