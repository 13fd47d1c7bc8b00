// `npm run bench`: the hot paths measured against a no-op route of the same worker, on the same
// runtime (one Miniflare, direct sockets on 127.0.0.1), under the same load, in one run; plus
// each worker's gzipped wasm and its cold instantiate in V8; the console's first-load JS and
// its dashboard's first paint in Chromium. Ratios are what to compare across machines;
// absolute figures depend on the box. Writes docs/benchmarks.md when the run is valid.
//
// Environment: BENCH_SECONDS (measured seconds per route, default 10), BENCH_WARMUP_SECONDS
// (default 2), BENCH_CONNECTIONS (default 16), BENCH_COLD_SAMPLES (fresh processes per worker
// and mode, default 5), BENCH_NOTE (a sentence for the doc about the conditions of the run).

import { execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { arch, availableParallelism, cpus, release, tmpdir, totalmem, type } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { connectStripe, stripeApi } from "../tests/support/stripe.mjs";
import { GATEWAY, ROOT, WORKERS, devSecrets, startStack } from "./stack.mjs";
import { wasmBudget } from "./deploy.mjs";
import { benchConsole } from "./bench-console.mjs";
import { FIRST_LOAD_BUDGET_GZ } from "./console.mjs";

const began = performance.now();
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const warmup = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const coldSamples = Number(process.env.BENCH_COLD_SAMPLES ?? 5);
const note = process.env.BENCH_NOTE ?? "";

/** DESIGN.md's performance targets: each hot path's req/s as a share of its worker's no-op. */
const TARGETS = { data: 0.36, tiers: 0.6, webhook: 0.2 };
const COLD_TARGET_MS = 50;

const dir = mkdtempSync(join(tmpdir(), "tollgate-bench-"));
// The reference row: the least a worker can do on this runtime, written in plain JavaScript.
const JS_NOOP = "js-noop";
const jsNoop = "export default { fetch() { return new Response('{\"ok\":true}', { headers: { 'Content-Type': 'application/json' } }); } };";
// The floor for a durable count on this runtime: a plain JavaScript worker and its own
// SQLite-backed Durable Object that adds one to a row per call and answers the total. Every
// metered call pays what this pays (a hop into an object and a durable write) plus Tollgate's
// key check, allowance, period and idempotency rules.
const JS_COUNTER = "js-counter";
const jsCounter = `
export class Counter {
  constructor(state) {
    this.sql = state.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS counts (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
    this.sql.exec("INSERT OR IGNORE INTO counts VALUES (1, 0)");
  }
  fetch() {
    this.sql.exec("UPDATE counts SET n = n + 1 WHERE id = 1");
    return Response.json({ n: this.sql.exec("SELECT n FROM counts WHERE id = 1").one().n });
  }
}
export default {
  async fetch(request, env) {
    if (request.method !== "POST") return new Response('{"ok":true}', { headers: { "Content-Type": "application/json" } });
    const counter = env.COUNTER.get(env.COUNTER.idFromName("hot"));
    return new Response((await counter.fetch("https://counter/")).body, { headers: { "Content-Type": "application/json" } });
  },
};`;
// The floor for a durable D1 write here: a plain JavaScript worker that inserts one row per
// call into a database of its own. Webhook apply pays it once per event (its write batch),
// plus a batch of reads, the signature and Tollgate's rules.
const JS_D1 = "js-d1-writer";
const jsD1 = `
let ready;
export default {
  async fetch(request, env) {
    if (request.method !== "POST") return new Response('{"ok":true}', { headers: { "Content-Type": "application/json" } });
    ready ??= env.FLOOR.exec("CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)");
    await ready;
    await env.FLOOR.batch([env.FLOOR.prepare("INSERT INTO writes (at) VALUES (?1)").bind(Date.now())]);
    return new Response('{"ok":true}', { headers: { "Content-Type": "application/json" } });
  },
};`;
// The counters flush on the deployed bound (the local stack's own is 200 ms), so the D1 writes
// per call are the deployment's.
const FLUSH_MS = "5000";
const stack = await startStack({ persistDir: dir, quiet: true, vars: { METER_FLUSH_MS: FLUSH_MS }, extraWorkers: [
    { name: JS_NOOP, script: jsNoop },
    { name: JS_COUNTER, script: jsCounter, durableObjects: { COUNTER: { className: "Counter", useSQLite: true } } },
    { name: JS_D1, script: jsD1, d1Databases: { FLOOR: "bench-floor" } },
  ],
});

/** A JSON call that must succeed: its `data` (or the whole body when there is none). */
async function call(worker, method, path, { headers = {}, body } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(`${stack.urls[worker]}${path}`, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${worker} ${method} ${path}: ${res.status} ${text}`);
  const json = JSON.parse(text);
  return json.data ?? json;
}

// Arrange: a developer with a connected Stripe sandbox account; a SaaS project without rate
// limits (the bench measures throughput, not the limiter) selling an unlimited free tier and a
// paid pro tier; an end user on the free tier metered by `POST /api/data`; and a second end
// user who bought pro through checkout, whose subscription the webhook events update.
const { token } = await call("platform", "POST", "/dev/token", { body: { sub: "bench", email: "bench@example.test" } });
const developer = { Authorization: `Bearer ${token}` };
const helperStack = {
  ...stack,
  dir,
  call: async (worker, method, path, { headers = {}, redirect = "follow" } = {}) => {
    const res = await fetch(`${stack.urls[worker]}${path}`, { method, headers, redirect });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
  },
};
const { connection } = await connectStripe(helperStack, { token }, "test");
const account = connection.accountId;
const { project, secretKey } = await call("platform", "POST", "/v1/projects", { headers: developer, body: { name: "Bench", type: "saas" } });
const db = await stack.d1();
await db.prepare("UPDATE projects SET rate_limit_secret = 1000000, rate_limit_publishable = 1000000 WHERE id = ?1").bind(project.id).run();
for (const tier of [
  { name: "free", displayName: "Free", price: 0, limit: "unlimited" },
  { name: "pro", displayName: "Pro", price: 900, limit: "unlimited" },
]) {
  await call("catalog", "POST", `/v1/projects/${project.id}/tiers`, { headers: developer, body: tier });
}
const server = { Authorization: `Bearer ${secretKey}` };
const metered = await call("api", "POST", "/api/customers", { headers: server, body: { email: "metered@example.test" } });
const subscriber = await call("api", "POST", "/api/customers", { headers: server, body: { email: "subscriber@example.test" } });
// A thousand more end users for the round-robin run: each call goes to another counter object.
const RING = Number(process.env.BENCH_END_USERS ?? 1000);
const ring = [];
for (let i = 0; i < RING; i += 50) {
  const made = await Promise.all(
    Array.from({ length: Math.min(50, RING - i) }, (_, j) => call("api", "POST", "/api/customers", { headers: server, body: { email: `ring${i + j}@example.test` } })),
  );
  ring.push(...made.map((c) => c.id));
}
let turn = 0;
const checkout = await call("api", "POST", "/api/create-checkout", {
  headers: { ...server, "X-User-Id": subscriber.id },
  body: { tier: "pro", successUrl: "http://127.0.0.1:5173/thanks", cancelUrl: "http://127.0.0.1:5173/plans" },
});
const paid = await stripeApi(helperStack, "POST", `/_sandbox/checkout/sessions/${checkout.sessionId}/complete`, { account });
if (paid.status !== 200) throw new Error(`sandbox checkout: ${paid.status} ${JSON.stringify(paid.body)}`);
const created = (await stripeApi(helperStack, "GET", "/v1/events?type=customer.subscription.created&limit=1", { account })).body.data[0];
if (!created) throw new Error("the sandbox recorded no customer.subscription.created event");

// Every webhook request is a distinct event, signed when it is sent, as Stripe delivers: a
// `customer.subscription.updated` for the subscriber's subscription on the connected account.
// One `created` for all of them, so none is stale against another: each one is applied (its
// row, the subscription's upsert and its developer event in one D1 batch), not skipped.
const webhookSecret = devSecrets(dir).STRIPE_WEBHOOK_SECRET;
const runTag = randomBytes(4).toString("hex");
let sent = 0;
/** The events Tollgate answered 2xx, to find each one applied in D1 after the run. */
const acknowledged = new Set();
function signedEvent(request, context) {
  context.eventId = `evt_bench${runTag}x${++sent}`;
  const body = JSON.stringify({ ...created, id: context.eventId, type: "customer.subscription.updated" });
  const at = Math.floor(Date.now() / 1000);
  const signature = `t=${at},v1=${createHmac("sha256", webhookSecret).update(`${at}.${body}`).digest("hex")}`;
  return { ...request, body, headers: { ...request.headers, "Content-Type": "application/json", "Stripe-Signature": signature } };
}

const routes = [
  { worker: JS_NOOP, name: "plain JavaScript no-op (the runtime's floor)", method: "GET", path: "/" },
  { worker: "api", name: "no-op `GET /dev/noop`", method: "GET", path: "/dev/noop" },
  {
    worker: "api",
    name: "sk `POST /api/data` (auth + exact increment)",
    target: TARGETS.data,
    method: "POST",
    path: "/api/data",
    headers: { ...server, "X-User-Id": metered.id },
  },
  { worker: JS_COUNTER, name: "no-op `GET /` (plain JavaScript)", method: "GET", path: "/" },
  { worker: JS_COUNTER, name: "plain JavaScript Durable Object counter: one SQLite write per call", method: "POST", path: "/" },
  {
    worker: "api",
    name: `sk \`POST /api/data\`, round-robin over ${RING.toLocaleString("en-US")} end users`,
    target: TARGETS.data,
    method: "POST",
    path: "/api/data",
    headers: server,
    setupRequest: (request) => ({ ...request, headers: { ...request.headers, "X-User-Id": ring[turn++ % ring.length] } }),
  },
  {
    worker: "api",
    name: "pk `GET /api/tiers`",
    target: TARGETS.tiers,
    method: "GET",
    path: "/api/tiers",
    headers: { "X-Publishable-Key": project.publishableKey },
  },
  { worker: "platform", name: "no-op `GET /dev/noop`", method: "GET", path: "/dev/noop" },
  // The one origin's cost: the same no-op reached through the gateway (its ratio is to the
  // platform's own no-op above).
  { worker: "platform", via: "gateway", name: "no-op `GET /dev/noop` through the gateway", method: "GET", path: "/dev/noop" },
  { worker: JS_D1, name: "no-op `GET /` (plain JavaScript)", method: "GET", path: "/" },
  { worker: JS_D1, name: "plain JavaScript D1 writer: one single-row batch per call", method: "POST", path: "/" },
  { worker: "webhooks", name: "no-op `GET /dev/noop`", method: "GET", path: "/dev/noop" },
  {
    worker: "webhooks",
    name: "webhook apply `POST /webhook/stripe`",
    target: TARGETS.webhook,
    method: "POST",
    path: "/webhook/stripe",
    setupRequest: signedEvent,
    onResponse: (status, _body, context) => {
      if (status >= 200 && status < 300) acknowledged.add(context.eventId);
    },
  },
];

async function measure(route) {
  const request = { method: route.method, path: route.path, headers: route.headers ?? {} };
  if (route.setupRequest) Object.assign(request, { setupRequest: route.setupRequest, onResponse: route.onResponse });
  const options = { url: stack.urls[route.via ?? route.worker], requests: [request], connections };
  const warm = await autocannon({ ...options, duration: warmup }); // warms the isolate and its caches
  const result = await autocannon({ ...options, duration: seconds });
  const failed = warm.non2xx + warm.errors + warm.timeouts + result.non2xx + result.errors + result.timeouts;
  const ok = warm["2xx"] + result["2xx"];
  return { ...route, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, failed, ok, requests: result.requests.total };
}

const results = [];
for (const route of routes) {
  process.stderr.write(`[bench] ${route.worker} ${route.name}\n`);
  results.push(await measure(route));
}

// The webhook figure counts only if every event answered 2xx was applied for real. (Events
// in flight when a run's time was up may be applied without their answer being counted.)
const webhook = results.find((r) => r.target === TARGETS.webhook);
const rows = await db.prepare("SELECT id, outcome FROM stripe_events WHERE id LIKE ?1").bind(`evt_bench${runTag}x%`).all();
const appliedIds = new Set(rows.results.filter((r) => r.outcome === "applied").map((r) => r.id));
const applied = [...acknowledged].filter((id) => appliedIds.has(id)).length;
const notApplied = rows.results.filter((r) => r.outcome !== "applied").map((r) => `${r.id} ${r.outcome}`);
// D1 writes per metered call: each counter object's flushes (one D1 batch each) against the
// units it counted. A last flush first, so nothing counted is left out of either figure.
async function meterFigures(endUsers) {
  let flushes = 0;
  let counted = 0;
  for (const endUserId of endUsers) {
    const res = await fetch(`${stack.urls.meter}/dev/meter/flush`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ projectId: project.id, endUserId }),
    });
    flushes += (await res.json()).flushes;
    counted += (await call("api", "GET", "/api/usage", { headers: { ...server, "X-User-Id": endUserId } })).count;
  }
  return { flushes, counted };
}
process.stderr.write("[bench] D1 writes per metered call\n");
const hotWrites = await meterFigures([metered.id]);
const ringWrites = await meterFigures(ring);
process.stderr.write("[bench] console first paint\n");
const consoleRun = await benchConsole({ platformUrl: stack.urls.platform, projectId: project.id, sub: "bench", samples: coldSamples });
await stack.stop();
rmSync(dir, { recursive: true, force: true });

const problems = [];
for (const r of results) if (r.failed > 0) problems.push(`${r.worker} ${r.name}: ${r.failed} failed or non-2xx requests`);
if (acknowledged.size !== webhook.ok || applied !== webhook.ok || notApplied.length > 0) {
  const others = notApplied.length ? `; not applied: ${notApplied.slice(0, 5).join(", ")}${notApplied.length > 5 ? " …" : ""}` : "";
  problems.push(`webhook apply: ${webhook.ok} events answered 2xx, ${applied} of them found applied${others}`);
}

// Per worker: gzipped wasm, and the median of fresh-process cold instantiates in V8 — with
// V8's default lazy compilation (functions compile on their first call, so the first requests
// pay for the rest), and with every function compiled up front by the baseline compiler.
function coldSample(worker, eager) {
  const flags = eager ? ["--no-wasm-lazy-compilation"] : [];
  const out = execFileSync(process.execPath, [...flags, join(ROOT, "scripts", "bench-cold.mjs"), worker], { encoding: "utf8" });
  return JSON.parse(out).totalMs;
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
process.stderr.write("[bench] cold instantiate samples\n");
const workers = [...WORKERS, GATEWAY].map((worker) => {
  // GNU gzip, as scripts/build.sh and the budget count (zlib's level 9 differs by ~0.3%).
  const gzip = execFileSync("gzip", ["-9", "-c", join(ROOT, "workers", worker, "build", "index_bg.wasm")]).length;
  const lazy = median(Array.from({ length: coldSamples }, () => coldSample(worker, false)));
  const eager = median(Array.from({ length: coldSamples }, () => coldSample(worker, true)));
  return { worker, gzip, lazy, eager };
});

const totalSeconds = (performance.now() - began) / 1000;

// The report: the same tables on the console and in docs/benchmarks.md.
const ms = (v) => v.toFixed(1);
// autocannon records whole milliseconds: 0 means under one.
const latency = (v) => (v < 1 ? "< 1" : String(v));
const yes = (met) => (met ? "yes" : "**no**");
const noop = (worker) => results.find((r) => r.worker === worker && !r.target && !r.via);
const routeTable = [
  "| Worker | Route | req/s | p50 ms | p99 ms | Ratio to no-op | Target | Met |",
  "|---|---|---:|---:|---:|---:|---:|:-:|",
  ...results.map((r) => {
    const ratio = r.rps / noop(r.worker).rps;
    const target = r.target ? `≥ ${r.target}` : "—";
    const met = r.target ? yes(ratio >= r.target) : "—";
    return `| ${r.worker} | ${r.name} | ${r.rps.toFixed(0)} | ${latency(r.p50)} | ${latency(r.p99)} | ${ratio.toFixed(3)} | ${target} | ${met} |`;
  }),
];
const workerTable = [
  "| Worker | gzip -9 wasm bytes | Budget | Cold instantiate, lazy (ms) | Cold instantiate, eager (ms) | Target | Met (lazy, eager) |",
  "|---|---:|---:|---:|---:|---:|:-:|",
  ...workers.map(
    (w) =>
      `| ${w.worker} | ${w.gzip.toLocaleString("en-US")} | ${w.gzip <= wasmBudget(w.worker) ? "within" : "**over**"} ${wasmBudget(w.worker).toLocaleString("en-US")} | ${ms(w.lazy)} | ${ms(w.eager)} | < ${COLD_TARGET_MS} | ${yes(w.lazy < COLD_TARGET_MS)}, ${yes(w.eager < COLD_TARGET_MS)} |`,
  ),
];

const consoleTable = [
  "| Console | Value | Budget |",
  "|---|---:|---:|",
  `| first-load JS, gzip -9 bytes | ${consoleRun.firstLoad.toLocaleString("en-US")} | ${FIRST_LOAD_BUDGET_GZ.toLocaleString("en-US")} |`,
  `| dashboard first meaningful paint after sign-in, median of ${consoleRun.samples} (ms) | ${ms(consoleRun.medianMs)} | — |`,
];
// The shared pipeline's cost: each Rust worker's no-op against the plain JavaScript one.
const reference = noop(JS_NOOP);
const pipelineTable = [
  "| Worker | Rust no-op req/s | ÷ JavaScript no-op | p99 ms (Rust / JS) | Target |",
  "|---|---:|---:|---:|---:|",
  ...["api", "platform", "webhooks"].map((w) => {
    const r = noop(w);
    return `| ${w} | ${r.rps.toFixed(0)} | ${(r.rps / reference.rps).toFixed(3)} | ${latency(r.p99)} / ${latency(reference.p99)} | ≥ 0.8 |`;
  }),
];
// The hot paths against the least a durable write costs here (the JavaScript floors above).
const hot = results.find((r) => r.worker === "api" && r.target === TARGETS.data);
const floor = results.find((r) => r.worker === JS_COUNTER && r.method === "POST");
const d1Floor = results.find((r) => r.worker === JS_D1 && r.method === "POST");
const floorTable = [
  "| Route | req/s | Floor | Floor req/s | ÷ floor |",
  "|---|---:|---|---:|---:|",
  `| ${hot.name}, one hot end user | ${hot.rps.toFixed(0)} | plain JavaScript Durable Object counter | ${floor.rps.toFixed(0)} | ${(hot.rps / floor.rps).toFixed(3)} |`,
  `| ${webhook.name} | ${webhook.rps.toFixed(0)} | plain JavaScript D1 writer | ${d1Floor.rps.toFixed(0)} | ${(webhook.rps / d1Floor.rps).toFixed(3)} |`,
];
const writesTable = [
  "| Metered end users | Units counted | D1 flush batches | D1 writes per metered call | Target |",
  "|---|---:|---:|---:|---:|",
  ...[
    ["one hot end user", hotWrites],
    [`${RING.toLocaleString("en-US")} end users, round-robin`, ringWrites],
  ].map(([who, w]) => `| ${who} | ${w.counted} | ${w.flushes} | ${(w.flushes / Math.max(w.counted, 1)).toFixed(4)} | ≤ 0.01 |`),
];
console.log(`\n${routeTable.join("\n")}\n\n${floorTable.join("\n")}\n\n${writesTable.join("\n")}\n\n${pipelineTable.join("\n")}\n\n${workerTable.join("\n")}\n\n${consoleTable.join("\n")}\n`);
console.log(`webhook events answered 2xx and found applied: ${applied} of ${webhook.ok}; total ${totalSeconds.toFixed(0)} s`);

if (problems.length > 0) {
  console.error(`\nThe run is not valid, docs/benchmarks.md is left as it was:\n- ${problems.join("\n- ")}`);
  process.exitCode = 1;
} else {
  writeFileSync(join(ROOT, "docs", "benchmarks.md"), report());
  console.log("wrote docs/benchmarks.md");
}

function machine() {
  const osRelease = existsSync("/etc/os-release") ? /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] : undefined;
  const workerd = JSON.parse(readFileSync(join(ROOT, "node_modules", "workerd", "package.json"), "utf8")).version;
  const miniflare = JSON.parse(readFileSync(join(ROOT, "node_modules", "miniflare", "package.json"), "utf8")).version;
  // The state folder's file system: on disk every D1 commit waits for the disk, on tmpfs not.
  const mounts = existsSync("/proc/mounts") ? readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")) : [];
  const mount = mounts.filter(([, at]) => at && (dir === at || dir.startsWith(at.endsWith("/") ? at : `${at}/`))).sort((a, b) => b[1].length - a[1].length)[0];
  return [
    `- CPU: ${cpus()[0]?.model ?? "unknown"}, ${availableParallelism()} cores available to Node`,
    `- Local D1/KV/R2 state: ${tmpdir()}${mount ? ` (${mount[2]})` : ""}; \`TMPDIR\` moves it`,
    `- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${osRelease ? `${osRelease}, ` : ""}${type()} ${release()} ${arch()}`,
    `- Node ${process.version} (V8 ${process.versions.v8}); workerd ${workerd} through Miniflare ${miniflare}`,
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
  ].join("\n");
}

function report() {
  const webhookRow = results.find((r) => r.target === TARGETS.webhook);
  return `# Benchmarks

Written by \`npm run bench\` (scripts/bench.mjs); do not edit by hand, re-run instead.

## Hot paths beside their worker's no-op route

${routeTable.join("\n")}

${seconds} s measured per route after a ${warmup} s warm-up, ${connections} connections, one request
in flight per connection, all routes in one run on one Miniflare (one workerd process), each worker
on its own direct socket on 127.0.0.1. The ratio is the route's req/s divided by the same worker's
no-op route (\`/dev/noop\`: the whole shared pipeline — request id, routing, CORS, headers — and no
handler work), so it cancels the box's speed out; the targets are DESIGN.md's. Any failed or non-2xx
request, warm-up included, invalidates the run and leaves this file untouched.

- **sk \`POST /api/data\`**: secret-key auth and one exact usage increment in the end user's
  metering object (a Durable Object in the meter worker), for one end user on an unlimited free
  tier; and the same round-robin over ${RING.toLocaleString("en-US")} end users, each call another object.
- **pk \`GET /api/tiers\`**: publishable-key auth and the project's public tiers.
- **webhook apply**: every request is a distinct \`customer.subscription.updated\` event (its own
  event id) for a subscription bought through checkout on the Stripe sandbox beforehand, signed
  with HMAC-SHA256 under the webhook secret at the moment it is sent, as Stripe delivers it. Each
  one is verified and applied in one atomic D1 batch (the event's row, the subscription's upsert
  and the developer event it causes). After the run the bench looked each acknowledged event up in D1: ${applied}
  of the ${webhookRow.ok} events answered 2xx (warm-up included) were applied; any event answered 2xx
  but not applied, or any event recorded with another outcome, would invalidate the run.

Webhook apply commits to local D1, SQLite files in the state folder (see Machine), so its figure
follows that file system's commit latency as well as Tollgate's code; metering commits to each
object's own SQLite storage and reaches D1 only by the objects' flushes.

## The hot paths against the runtime's floor for a durable write

${floorTable.join("\n")}

Each floor is a plain JavaScript worker doing only the durable write its hot path must make
before it answers. For metering: its own SQLite-backed Durable Object, which adds one to a row
and answers the total (a hop into an object and one durable write); a metered call pays that
plus Tollgate's key check, allowance, period and idempotency rules
([scaling.md](scaling.md#metering-objects) takes it apart). For webhook apply: one single-row
D1 batch into a database of its own; an event pays that plus the signature, a batch of reads and
its own larger write batch.

## D1 writes per metered call

${writesTable.join("\n")}

Each counter object flushes what it counted to D1 in one batch per flush; the run used the
deployed bound (\`METER_FLUSH_MS\` = ${FLUSH_MS} ms). Writes per call are one batch per object per
flush interval over the calls that object took in it: a hot end user's calls share a flush, while
round-robin over many end users gives each object few calls per interval.

## The shared pipeline against a plain JavaScript no-op

${pipelineTable.join("\n")}

The reference is a JavaScript worker in the same Miniflare that answers a fixed JSON body and does
nothing else: the runtime's floor. Each Rust worker's \`/dev/noop\` runs the whole shared pipeline
(the shell, request conversion, request id, routing, CORS and headers), so the ratio is what that
pipeline costs every route.

## Workers

${workerTable.join("\n")}

- **gzip -9 wasm bytes**: the worker's \`index_bg.wasm\` as built by \`scripts/build.sh\`, through
  \`gzip -9\` as the build counts it; the budget is 300 KB (300,000 bytes) per worker, the api worker's (the hot path's) 260 KB, in \`scripts/deploy.mjs\`.
- **Cold instantiate**: the median of ${coldSamples} samples, each in a fresh Node process (V8
  reuses compiled wasm within a process), of compiling the worker's wasm module and evaluating its
  wasm-bindgen glue — which instantiates the module, runs the Rust start function and reads the
  init state: what a fresh isolate does before its first request (scripts/bench-cold.mjs).
  *Lazy* is V8's default, which compiles each function on its first call, so part of the cost
  moves into the first requests; *eager* compiles every function up front with the baseline
  compiler, nothing deferred (\`--no-wasm-lazy-compilation\`). It is Node's V8, not workerd's, and it leaves out
  what workerd adds around any isolate (the JavaScript shell is a few lines).

## Developer console

${consoleTable.join("\n")}

- **First-load JS**: the entry chunk and its static imports as \`scripts/console.mjs\` measures
  them after the Vite build (zlib level 9); the build fails above the budget.
- **First meaningful paint**: headless Chromium, a cold cache each sample; from the start of the
  navigation back from the sign-in form until the dashboard's metric cards and usage chart are
  drawn (config, code exchange, the project, the dashboard and the chart chunk) — scripts/bench-console.mjs.

## Machine

${machine()}
${note ? `\n${note}\n` : ""}
## Reproduce

\`\`\`sh
npm run bench     # builds every worker, then runs scripts/bench.mjs
\`\`\`

Environment: \`BENCH_SECONDS\` (measured seconds per route, default 10), \`BENCH_WARMUP_SECONDS\`
(default 2), \`BENCH_CONNECTIONS\` (default 16), \`BENCH_COLD_SAMPLES\` (default 5), \`BENCH_NOTE\`
(a sentence about the run's conditions, written under Machine). With the defaults the load is
${routes.length} × (${warmup} + ${seconds}) s = ${routes.length * (warmup + seconds)} s; this run took ${totalSeconds.toFixed(0)} s in all
(stack start, arrangement, load, cold samples), after the build.
`;
}
