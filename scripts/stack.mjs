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
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from "miniflare";
import { parse } from "smol-toml";

export const ROOT = resolve(import.meta.dirname, "..");
export const WORKERS = ["platform", "catalog", "api", "webhooks", "stripe-sandbox"];

/** Fixed ports for `npm start`; tests ask for free ones (port 0). */
export const DEFAULT_PORTS = { platform: 8787, catalog: 8788, api: 8789, webhooks: 8790, "stripe-sandbox": 8791 };

const readConfig = (worker) => parse(readFileSync(join(ROOT, "workers", worker, "wrangler.toml"), "utf8"));

function workerOptions(worker, port, vars) {
  const config = readConfig(worker);
  const dir = join(ROOT, "workers", worker);
  return {
    name: config.name,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    modulesRoot: join(ROOT, "workers"),
    modules: [
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
    unsafeDirectSockets: [{ host: "127.0.0.1", port }],
  };
}

/** Applies `migrations/` to the local D1 under `persistDir` with wrangler, as deployments do. */
export async function applyMigrations(persistDir) {
  const wrangler = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  const args = [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir, "-c", "wrangler.toml"];
  const output = [];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, CI: "1" } });
  child.stdout.on("data", (chunk) => output.push(chunk));
  child.stderr.on("data", (chunk) => output.push(chunk));
  const code = await new Promise((done) => child.on("close", done));
  if (code !== 0) throw new Error(`migrations failed (exit ${code}):\n${Buffer.concat(output)}`);
}

async function waitForHealth(urls, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (const [worker, url] of Object.entries(urls)) {
    for (;;) {
      try {
        const res = await fetch(`${url}/health`);
        await res.arrayBuffer();
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${worker} did not answer /health within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Starts the stack. `ports` maps worker → port (0 = any free port). `persistDir` holds the
 * D1/KV/R2 state (the same layout as `wrangler --persist-to`). `vars` override variables in
 * every worker. Returns the workers' URLs, the runtime's log entries (`{ level, message }`), the shared D1
 * database (`d1()`), and `stop()`.
 */
export async function startStack({ persistDir, ports = {}, vars = {}, migrate = true, quiet = false } = {}) {
  if (!persistDir) throw new Error("startStack needs a persistDir");
  if (migrate) await applyMigrations(persistDir);
  const logs = [];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      log: new Log(quiet ? LogLevel.ERROR : LogLevel.WARN),
      resourcePersistencePath: join(persistDir, "v3"),
      handleStructuredLogs(entry) {
        logs.push(entry);
        if (!quiet) (entry.level === "error" ? process.stderr : process.stdout).write(`${entry.message}\n`);
      },
      workers: WORKERS.map((w) => workerOptions(w, ports[w] ?? 0, vars)),
    }),
  );
  try {
    await mf.ready;
    const urls = {};
    for (const worker of WORKERS) {
      const url = await mf.unsafeGetDirectURL(readConfig(worker).name);
      urls[worker] = url.origin;
    }
    await waitForHealth(urls, 30_000);
    // The D1 binding as the workers see it, for tests that arrange or inspect rows directly.
    const d1 = () => mf.getD1Database("DB", readConfig("api").name);
    return { urls, logs, d1, stop: () => mf.dispose() };
  } catch (err) {
    await mf.dispose();
    throw err;
  }
}
