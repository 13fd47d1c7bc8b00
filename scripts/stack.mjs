// The local Tollgate stack: all five workers in one Miniflare (one workerd process), each on
// its own 127.0.0.1 socket as in production, all sharing one D1 database, KV namespace and R2
// bucket.
//
// Why one Miniflare with a socket per worker: `wrangler dev -c a -c b` serves only the first
// worker over HTTP, and several `wrangler dev` processes on one state folder lose concurrent
// writes (SQLITE_BUSY). One workerd owning the state, with a direct socket per worker, gives
// every worker its own URL and exact writes.
//
// Each worker's name, compatibility date, variables and bindings come from its own
// wrangler.toml, the file that deploys it, so local runs cannot drift from deployments.

import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from "miniflare";
import { parse } from "smol-toml";
import { edgeFetch } from "./edge.mjs";

export const ROOT = resolve(import.meta.dirname, "..");
export const WORKERS = ["platform", "catalog", "api", "webhooks", "stripe-sandbox", "meter", "billing"];
/** The one public origin in front of the four Tollgate workers (not the Stripe sandbox). */
export const GATEWAY = "gateway";
/** The workers the gateway fronts. */
export const PUBLIC_WORKERS = ["platform", "catalog", "api", "webhooks"];

/** Fixed ports for `npm start`: the one origin first; tests ask for free ones (port 0). */
export const DEFAULT_PORTS = { gateway: 8787, platform: 8788, catalog: 8789, api: 8790, webhooks: 8791, "stripe-sandbox": 8792, meter: 8793, billing: 8794 };

/** The audience the development issuer's tokens carry and the platform expects. */
export const DEV_AUDIENCE = "tollgate-console";
/** Browser origins the local console may run on. */
export const DEV_CONSOLE_ORIGINS = "http://localhost:5173,http://127.0.0.1:5173";

/**
 * Development secrets, made once per state folder and kept beside the state (so tokens and
 * keys survive a restart): the key pepper, the data-encryption key, the download-token key,
 * the development issuer's RSA key and the Stripe sandbox credentials (the platform's secret keys and Connect client
 * ids per mode, and the webhook signing secret per mode). Never used outside local runs and tests.
 * A state folder made by an older version gains the secrets it lacks.
 */
export function devSecrets(persistDir) {
  const file = join(persistDir, "dev-secrets.json");
  const kept = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  const token = (prefix) => `${prefix}${randomBytes(18).toString("base64url").replace(/[-_]/g, "x")}`;
  const makers = {
    KEY_PEPPER: () => randomBytes(32).toString("base64url"),
    DATA_ENCRYPTION_KEY: () => randomBytes(32).toString("base64"),
    DOWNLOAD_SIGNING_KEY: () => randomBytes(32).toString("base64url"),
    DEV_ISSUER_KEY: () => {
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      return JSON.stringify({ ...privateKey.export({ format: "jwk" }), kid: `dev-${randomBytes(6).toString("hex")}` });
    },
    STRIPE_SECRET_KEY_TEST: () => token("sk_test_"),
    STRIPE_SECRET_KEY_LIVE: () => token("sk_live_"),
    STRIPE_CLIENT_ID_TEST: () => token("ca_"),
    STRIPE_CLIENT_ID_LIVE: () => token("ca_"),
    STRIPE_WEBHOOK_SECRET: () => token("whsec_"),
    STRIPE_WEBHOOK_SECRET_LIVE: () => token("whsec_"),
  };
  const missing = Object.keys(makers).filter((name) => !(name in kept));
  if (missing.length === 0) return kept;
  const secrets = { ...kept };
  for (const name of missing) secrets[name] = makers[name]();
  mkdirSync(persistDir, { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

// Ports the stack binds come from below the system's ephemeral range (Linux hands out
// 32768–60999 for `listen(0)` and outgoing connections, macOS 49152–65535). A port picked by
// `listen(0)` and released would be back in that pool until workerd binds it, and Miniflare's
// own servers or any connection could take it first (ERR_ADDRESS_IN_USE at start); no one is
// given a port down here unless they ask for it by number.
const PORT_FLOOR = 20000;
const PORT_SPAN = 12000;

function tryListen(port) {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(null));
    server.listen(port, "127.0.0.1", () => done(server));
  });
}

/**
 * `count` distinct free ports outside the ephemeral range: every socket stays open until all
 * are chosen, so none is handed out twice.
 */
export async function freePorts(count) {
  const servers = [];
  let candidate = PORT_FLOOR + Math.floor(Math.random() * PORT_SPAN);
  for (let tried = 0; servers.length < count; tried++) {
    if (tried >= PORT_SPAN) throw new Error(`no ${count} free ports between ${PORT_FLOOR} and ${PORT_FLOOR + PORT_SPAN}`);
    const server = await tryListen(candidate);
    if (server) servers.push(server);
    candidate = PORT_FLOOR + ((candidate - PORT_FLOOR + 1) % PORT_SPAN);
  }
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  return ports;
}

export const freePort = async () => (await freePorts(1))[0];

const readConfig = (worker) => parse(readFileSync(join(ROOT, "workers", worker, "wrangler.toml"), "utf8"));

/** `object` without its undefined entries (Miniflare's schemas refuse them in places). */
const defined = (object) => Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined));

/**
 * The entry module a worker runs under when its D1 cannot be reached (the resilience tests):
 * the worker's own entry, with `env.DB` replaced by an object of D1's shape (and class name,
 * which the Rust bindings check) whose every query fails as the runtime reports a lost
 * connection. Everything else in `env` is the real binding.
 */
const d1OutageEntry = (main) => `
  import worker from "./${main}";
  export * from "./${main}";
  const lost = () => Promise.reject(new Error("D1_ERROR: Network connection lost.", { cause: new Error("Network connection lost.") }));
  class D1PreparedStatement {
    bind() { return this; }
    first() { return lost(); }
    all() { return lost(); }
    run() { return lost(); }
    raw() { return lost(); }
  }
  class D1Database {
    prepare() { return new D1PreparedStatement(); }
    batch() { return lost(); }
    exec() { return lost(); }
  }
  const unreachable = new D1Database();
  const cut = (env) => new Proxy(env, { get: (target, name) => (name === "DB" ? unreachable : Reflect.get(target, name)) });
  export default {
    fetch: (request, env, ctx) => worker.fetch(request, cut(env), ctx),
    queue: (batch, env, ctx) => worker.queue(batch, cut(env), ctx),
    scheduled: (controller, env, ctx) => worker.scheduled(controller, cut(env), ctx),
  };
`;

/** The Durable Object classes any worker declares on the SQLite storage backend. */
function sqliteClasses() {
  return new Set(WORKERS.flatMap((w) => (readConfig(w).migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? [])));
}

function workerOptions(worker, port, vars, { d1Outage = false } = {}) {
  const config = readConfig(worker);
  const dir = join(ROOT, "workers", worker);
  return {
    name: config.name,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    modulesRoot: join(ROOT, "workers"),
    modules: [
      ...(d1Outage ? [{ type: "ESModule", path: join(dir, "d1-outage.mjs"), contents: d1OutageEntry(config.main) }] : []),
      { type: "ESModule", path: join(dir, config.main) },
      { type: "ESModule", path: join(ROOT, "workers", "shell.mjs") },
      { type: "ESModule", path: join(dir, "build", "index.js") },
      { type: "CompiledWasm", path: join(dir, "build", "index_bg.wasm") },
    ],
    bindings: { ...config.vars, ENVIRONMENT: "development", ...vars },
    d1Databases: Object.fromEntries((config.d1_databases ?? []).map((d) => [d.binding, d.database_id])),
    kvNamespaces: Object.fromEntries((config.kv_namespaces ?? []).map((k) => [k.binding, k.id])),
    r2Buckets: Object.fromEntries((config.r2_buckets ?? []).map((r) => [r.binding, r.bucket_name])),
    serviceBindings: Object.fromEntries((config.services ?? []).map((s) => [s.binding, s.service])),
    durableObjects: Object.fromEntries(
      (config.durable_objects?.bindings ?? []).map((d) => [
        d.name,
        defined({ className: d.class_name, scriptName: d.script_name, useSQLite: sqliteClasses().has(d.class_name) || undefined }),
      ]),
    ),
    queueProducers: Object.fromEntries(
      (config.queues?.producers ?? []).map((p) => [p.binding, defined({ queueName: p.queue, deliveryDelay: p.delivery_delay })]),
    ),
    queueConsumers: Object.fromEntries(
      (config.queues?.consumers ?? []).map((c) => [
        c.queue,
        defined({
          maxBatchSize: c.max_batch_size,
          maxBatchTimeout: c.max_batch_timeout,
          maxRetries: c.max_retries,
          deadLetterQueue: c.dead_letter_queue,
          retryDelay: c.retry_delay,
        }),
      ]),
    ),
    ...(config.assets ? { assets: staticAssets(dir, config.assets) } : {}),
    // Deliveries to developers' hosts fail as in production: answered by the edge, never
    // thrown by workerd (see edge.mjs).
    ...(worker === "webhooks" ? { outboundService: edgeFetch } : {}),
    unsafeDirectSockets: [{ host: "127.0.0.1", port }],
  };
}

/**
 * A worker's Workers Static Assets as Miniflare takes them: the worker runs first and reads
 * the files through its binding (the platform serves the console this way). The folder is
 * made if the console was not built yet, so the stack still starts (its pages answer 404).
 */
function staticAssets(dir, assets) {
  const directory = resolve(dir, assets.directory);
  mkdirSync(directory, { recursive: true });
  return {
    directory,
    binding: assets.binding,
    run_worker_first: assets.run_worker_first === true,
    routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: assets.run_worker_first === true },
  };
}

/**
 * The D1 databases and the config that migrates each: Tollgate's shared database, and the
 * Stripe sandbox's own (it never touches Tollgate's).
 */
export const DATABASES = [
  { binding: "DB", config: "wrangler.toml" },
  { binding: "SANDBOX_DB", config: join("workers", "stripe-sandbox", "wrangler.toml") },
];

/**
 * Applies every database's migrations to the local D1 under `persistDir` with wrangler, as
 * deployments do. One after the other: run at once, the two wranglers lock each other out of
 * the state folder's shared metadata database (SQLITE_BUSY).
 */
export async function applyMigrations(persistDir) {
  const wrangler = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  for (const { binding, config } of DATABASES) {
    const args = [wrangler, "d1", "migrations", "apply", binding, "--local", "--persist-to", persistDir, "-c", config];
    const output = [];
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, CI: "1" } });
    child.stdout.on("data", (chunk) => output.push(chunk));
    child.stderr.on("data", (chunk) => output.push(chunk));
    const code = await new Promise((done) => child.on("close", done));
    if (code !== 0) throw new Error(`${binding} migrations failed (exit ${code}):\n${Buffer.concat(output)}`);
  }
}

async function waitForHealth(urls, timeoutMs, healthy = (status) => status === 200) {
  const deadline = Date.now() + timeoutMs;
  for (const [worker, url] of Object.entries(urls)) {
    for (;;) {
      try {
        const res = await fetch(`${url}/health`);
        await res.arrayBuffer();
        if (healthy(res.status)) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${worker} did not answer /health within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * A workerd internal error as one console line — its cause and the reference the worker's
 * own log names — without the runtime's stack of binary addresses; anything else as it is.
 */
export function concise(message) {
  const internal = /^e = (?:\S+:\d+: )?(?:failed: )?([^\n]*)\nstack:[^]*?wdErrId = (\w+)/.exec(message);
  return internal ? `workerd: ${internal[1]} (reference = ${internal[2]})` : message;
}

/**
 * Starts the stack. `ports` maps worker → port (absent or 0 = a free port). `persistDir`
 * holds the D1/KV/R2 state (the same layout as `wrangler --persist-to`) and the development
 * secrets. `vars` override variables and secrets in every worker, and `workerVars` (worker →
 * vars) in one worker only (tests: a production-configured webhooks worker behind a development
 * issuer). Returns the workers' URLs,
 * the runtime's log entries (`{ level, message }`), the shared D1 database (`d1()`), the
 * Stripe sandbox's own (`sandboxD1()`), the shared R2 bucket (`r2()`) and KV namespace
 * (`kv()`), `scheduled(worker)` (runs a cron trigger now), and `stop()`. `d1Outage` (tests
 * only) binds every worker's `DB` to a database that cannot be reached; health then only
 * waits for each worker to answer.
 */
export async function startStack({ persistDir, ports = {}, vars = {}, workerVars = {}, migrate = true, quiet = false, d1Outage = false, oneOrigin = false, extraWorkers = [] } = {}) {
  if (!persistDir) throw new Error("startStack needs a persistDir");
  if (migrate) await applyMigrations(persistDir);
  // Ports are fixed before start: the platform's URL is the development issuer, and the
  // issuer's JWKS URL must be known to the workers when they boot.
  const chosen = {};
  const unassigned = [...WORKERS, GATEWAY].filter((worker) => !ports[worker]);
  const free = await freePorts(unassigned.length);
  for (const worker of [...WORKERS, GATEWAY]) chosen[worker] = ports[worker] || free[unassigned.indexOf(worker)];
  // With `oneOrigin`, every public URL the workers hand out (issuer, Connect callback, asset
  // and download links, the console's calls) is the gateway's, as in a one-domain deployment.
  const publicUrl = (worker) => `http://127.0.0.1:${oneOrigin ? chosen[GATEWAY] : chosen[worker]}`;
  const issuer = publicUrl("platform");
  const environment = {
    ...devSecrets(persistDir),
    DEVELOPER_ISSUER: issuer,
    DEVELOPER_AUDIENCE: DEV_AUDIENCE,
    DEVELOPER_JWKS_URL: `${issuer}/.well-known/jwks.json`,
    CONSOLE_ORIGINS: DEV_CONSOLE_ORIGINS,
    // Stripe is the local sandbox worker: the REST API and Connect OAuth on one origin, and
    // its webhooks go to the webhooks worker.
    STRIPE_API_BASE: `http://127.0.0.1:${chosen["stripe-sandbox"]}`,
    STRIPE_CONNECT_BASE: `http://127.0.0.1:${chosen["stripe-sandbox"]}`,
    // Where Stripe sends developers back after Connect consent.
    CATALOG_URL: publicUrl("catalog"),
    SANDBOX_WEBHOOK_URL: `${publicUrl("webhooks")}/webhook/stripe`,
    // Public asset URLs and download links point at the api worker, whichever worker answers.
    PUBLIC_API_URL: publicUrl("api"),
    // The console (served by the platform) calls the webhooks worker here.
    WEBHOOKS_URL: publicUrl("webhooks"),
    // Metering objects flush to D1 within 200 ms here (deployments: the config's 5 s), so a
    // local dashboard follows the calls at once.
    METER_FLUSH_MS: "200",
    ...vars,
  };
  // The console is served from the platform's own origin, whatever else may call.
  environment.CONSOLE_ORIGINS = [environment.CONSOLE_ORIGINS, issuer, `http://127.0.0.1:${chosen[GATEWAY]}`].filter(Boolean).join(",");
  const logs = [];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      log: new Log(quiet ? LogLevel.ERROR : LogLevel.WARN),
      resourcePersistencePath: join(persistDir, "v3"),
      // No network lookup for the `Request.cf` placeholder (the machine may be offline).
      cf: false,
      handleStructuredLogs(entry) {
        logs.push(entry);
        if (!quiet) (entry.level === "error" ? process.stderr : process.stdout).write(`${concise(entry.message)}\n`);
      },
      workers: [
        ...[...WORKERS, GATEWAY].map((w) => workerOptions(w, chosen[w], { ...environment, ...(workerVars[w] ?? {}) }, { d1Outage })),
        // Plain JavaScript workers beside ours (the bench's reference no-op), on the same runtime.
        ...extraWorkers.map(({ name, script, durableObjects, d1Databases }) => ({
          name,
          modules: true,
          script,
          ...(durableObjects ? { durableObjects } : {}),
          ...(d1Databases ? { d1Databases } : {}),
          compatibilityDate: readConfig("api").compatibility_date,
          unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
        })),
      ],
    }),
  );
  try {
    await mf.ready;
    const urls = {};
    for (const worker of [...WORKERS, GATEWAY]) {
      const url = await mf.unsafeGetDirectURL(readConfig(worker).name);
      urls[worker] = url.origin;
    }
    const extraUrls = {};
    for (const { name } of extraWorkers) extraUrls[name] = (await mf.unsafeGetDirectURL(name)).origin;
    await waitForHealth(urls, 30_000, d1Outage ? (status) => status > 0 : undefined);
    // The D1 bindings as the workers see them, for tests that arrange or inspect rows directly.
    const d1 = () => mf.getD1Database("DB", readConfig("api").name);
    const sandboxD1 = () => mf.getD1Database("SANDBOX_DB", readConfig("stripe-sandbox").name);
    const r2 = () => mf.getR2Bucket("ASSETS", readConfig("api").name);
    // Cron triggers do not fire on their own locally: `scheduled(worker)` runs one now.
    const scheduled = async (worker, cron = "*/5 * * * *") =>
      (await mf.getWorker(readConfig(worker).name)).scheduled({ cron, scheduledTime: new Date() });
    const kv = () => mf.getKVNamespace("CACHE", readConfig("api").name);
    return { urls: { ...urls, ...extraUrls }, logs, d1, sandboxD1, r2, kv, scheduled, stop: () => mf.dispose() };
  } catch (err) {
    await mf.dispose();
    throw err;
  }
}
