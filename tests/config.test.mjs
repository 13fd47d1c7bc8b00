// Deployment configuration: all workers bind the same storage, nothing deploys in
// development mode by default, and the wasm-bindgen pin matches the installed CLI.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "smol-toml";
import { ROOT, WORKERS } from "../scripts/stack.mjs";

const toml = (path) => parse(readFileSync(join(ROOT, path), "utf8"));
const shared = toml("wrangler.toml");
const bindings = (config) => ({
  d1: config.d1_databases.map(({ binding, database_id, database_name }) => ({ binding, database_id, database_name })),
  kv: (config.kv_namespaces ?? []).map(({ binding, id }) => ({ binding, id })),
  r2: (config.r2_buckets ?? []).map(({ binding, bucket_name }) => ({ binding, bucket_name })),
});
// The Stripe sandbox stands in for Stripe, so it keeps its own storage; the meter worker's
// objects bind the shared D1 alone (checked below).
const TOLLGATE_WORKERS = WORKERS.filter((w) => w !== "stripe-sandbox" && w !== "meter");

test("every Tollgate worker binds the same D1 database, KV namespace and R2 bucket as the shared config", () => {
  for (const worker of TOLLGATE_WORKERS) {
    assert.deepEqual(bindings(toml(`workers/${worker}/wrangler.toml`)), bindings(shared), worker);
  }
});

test("every Tollgate worker's migrations folder is the shared one", () => {
  for (const worker of TOLLGATE_WORKERS) {
    const dir = toml(`workers/${worker}/wrangler.toml`).d1_databases[0].migrations_dir;
    assert.equal(join(ROOT, "workers", worker, dir), join(ROOT, shared.d1_databases[0].migrations_dir), worker);
  }
});

test("the meter worker binds the shared D1 database and its migrations, and no KV or R2", () => {
  const { d1, kv, r2 } = bindings(toml("workers/meter/wrangler.toml"));

  assert.deepEqual(d1, bindings(shared).d1);
  assert.deepEqual([kv, r2], [[], []]);
});

test("the Stripe sandbox binds only its own D1 database, with its own id and migrations", () => {
  const config = toml("workers/stripe-sandbox/wrangler.toml");
  const { d1, kv, r2 } = bindings(config);

  assert.deepEqual(d1.map((d) => d.binding), ["SANDBOX_DB"]);
  assert.notEqual(d1[0].database_id, shared.d1_databases[0].database_id);
  assert.deepEqual([kv, r2], [[], []]);
  assert.equal(join(ROOT, "workers/stripe-sandbox", config.d1_databases[0].migrations_dir), join(ROOT, "workers/stripe-sandbox/migrations"));
});

test("no worker deploys with development routes switched on", () => {
  for (const worker of WORKERS) {
    assert.equal(toml(`workers/${worker}/wrangler.toml`).vars.ENVIRONMENT, "production", worker);
  }
});

test("every worker runs inside the shared JavaScript shell", () => {
  for (const worker of WORKERS) {
    const config = toml(`workers/${worker}/wrangler.toml`);
    assert.equal(config.main, "entry.mjs", worker);
    assert.match(readFileSync(join(ROOT, "workers", worker, "entry.mjs"), "utf8"), /shell\(RustWorker\)/, worker);
  }
});

test("the wasm-bindgen crate pin equals the wasm-bindgen CLI on PATH", () => {
  const pin = readFileSync(join(ROOT, "Cargo.toml"), "utf8").match(/^wasm-bindgen = "=([0-9.]+)"/m)[1];
  const cli = execFileSync(process.env.WASM_BINDGEN_BIN ?? "wasm-bindgen", ["--version"], { encoding: "utf8" });
  assert.equal(cli.trim(), `wasm-bindgen ${pin}`);
});
