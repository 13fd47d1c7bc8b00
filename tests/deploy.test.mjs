// Deployment: every worker's bundle for every environment builds offline and fits, the env
// blocks redeclare what the local config binds under the environment's own names, and the
// deploy script refuses before changing anything, deploys in an order a first deploy can
// follow, hands each worker only its secrets, never prints them, and fails on a bad /health.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import {
  BUNDLE_LIMIT_GZ,
  WASM_BUDGET_GZ,
  wasmBudget,
  DEPLOYED_WORKERS,
  ENVIRONMENTS,
  FIRST_DEPLOY,
  PLACEHOLDER,
  SECRET_CHECKS,
  bundleTable,
  configPath,
  dryRunBundle,
  main,
  placeholdersIn,
  readConfig,
} from "../scripts/deploy.mjs";
import { GATEWAY, PUBLIC_WORKERS, ROOT, WORKERS } from "../scripts/stack.mjs";

const SANDBOX = "stripe-sandbox";
const envsOf = (worker) => (worker === SANDBOX ? ["staging"] : ENVIRONMENTS);
const CONFIGS = ["root", ...WORKERS, GATEWAY];
/**
 * The deployed workers that hold the shared storage bindings and secrets: all but the
 * gateway (it only forwards) and the meter worker (its objects bind D1 alone, no secret).
 */
const STORED = DEPLOYED_WORKERS.filter((w) => w !== GATEWAY && w !== "meter");

/** The binding names a config block declares, per kind. */
function bindingsOf(block) {
  return {
    d1: (block.d1_databases ?? []).map((d) => d.binding).sort(),
    kv: (block.kv_namespaces ?? []).map((k) => k.binding).sort(),
    r2: (block.r2_buckets ?? []).map((r) => r.binding).sort(),
    services: (block.services ?? []).map((s) => s.binding).sort(),
    durableObjects: (block.durable_objects?.bindings ?? []).map((d) => d.name).sort(),
    queueProducers: (block.queues?.producers ?? []).map((p) => p.binding).sort(),
    queueConsumers: (block.queues?.consumers ?? []).length,
    vars: Object.keys(block.vars ?? {}).sort(),
  };
}

describe("deploy bundles", () => {
  const scratch = mkdtempSync(join(tmpdir(), "tollgate-bundles-"));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test("every worker's bundle for every environment builds offline, is under 1 MiB gzipped, and its wasm within the design's 300 KB (api: its stated ceiling)", async (t) => {
    // Arrange: no credentials, so nothing could reach Cloudflare even by mistake.
    const saved = { token: process.env.CLOUDFLARE_API_TOKEN, account: process.env.CLOUDFLARE_ACCOUNT_ID };
    delete process.env.CLOUDFLARE_API_TOKEN;
    delete process.env.CLOUDFLARE_ACCOUNT_ID;
    const results = [];
    try {
      // Act
      for (const worker of WORKERS) {
        for (const env of envsOf(worker)) {
          results.push(await dryRunBundle(worker, env, join(scratch, `${worker}-${env}`)));
        }
      }
    } finally {
      if (saved.token !== undefined) process.env.CLOUDFLARE_API_TOKEN = saved.token;
      if (saved.account !== undefined) process.env.CLOUDFLARE_ACCOUNT_ID = saved.account;
    }

    // Assert
    t.diagnostic(`\n${bundleTable(results)}`);
    assert.equal(results.length, 2 * WORKERS.length - 1);
    for (const r of results) {
      assert.ok(r.files.some((f) => f.endsWith(".wasm")), `${r.worker} ${r.env} uploads its wasm`);
      assert.ok(r.gzBytes <= BUNDLE_LIMIT_GZ, `${r.worker} ${r.env}: ${r.gzBytes} B gzipped > ${BUNDLE_LIMIT_GZ}`);
      // The design's budget (../shared/DESIGN.md): small wasm starts fast in every location.
      // The api worker (the metering hot path) is held to a tighter budget of its own.
      const budget = wasmBudget(r.worker);
      assert.ok(budget <= WASM_BUDGET_GZ, `${r.worker}: no worker's budget passes the design's`);
      if (r.worker === "api") assert.equal(budget, 260_000, "the api worker's own budget");
      assert.ok(r.wasmGzBytes <= budget, `${r.worker} ${r.env}: wasm ${r.wasmGzBytes} B gzipped > ${budget}`);
    }
  });

  test("the deploy order has no cycle: each worker binds only workers deployed before it, so a first deploy is the usual one", () => {
    for (const env of ENVIRONMENTS) {
      const names = Object.fromEntries(DEPLOYED_WORKERS.map((w) => [readConfig(w).env[env].name, w]));
      DEPLOYED_WORKERS.forEach((worker, position) => {
        const block = readConfig(worker).env[env];
        const bound = [...(block.services ?? []).map((s) => s.service), ...(block.durable_objects?.bindings ?? []).map((d) => d.script_name).filter(Boolean)];
        for (const name of bound) {
          assert.ok(names[name], `${worker} ${env} binds ${name}, a deployed worker`);
          assert.ok(DEPLOYED_WORKERS.indexOf(names[name]) < position, `${worker} ${env}: ${names[name]} deploys before it`);
        }
      });
    }
    assert.deepEqual(FIRST_DEPLOY.filter((s) => s.without), []);
  });
});

describe("wrangler environments", () => {
  test("every deployed worker has staging and production blocks; the sandbox has staging only", () => {
    for (const worker of CONFIGS) {
      const expected = worker === SANDBOX ? ["staging"] : ENVIRONMENTS;
      assert.deepEqual(Object.keys(readConfig(worker).env ?? {}).sort(), [...expected].sort(), worker);
    }
  });

  test("every env block declares every binding and variable the local config declares", () => {
    for (const worker of CONFIGS) {
      const config = readConfig(worker);
      const local = bindingsOf(config);
      for (const env of envsOf(worker)) {
        const block = bindingsOf(config.env[env]);
        for (const kind of Object.keys(local)) {
          if (kind === "vars") {
            for (const name of local.vars) assert.ok(block.vars.includes(name), `${worker} ${env} vars.${name}`);
          } else {
            assert.deepEqual(block[kind], local[kind], `${worker} ${env} ${kind}`);
          }
        }
      }
    }
  });

  test("every worker and resource name is the local one with the environment's suffix", () => {
    const named = (block) => [
      ["name", block.name],
      ...(block.d1_databases ?? []).map((d) => [`database ${d.binding}`, d.database_name]),
      ...(block.r2_buckets ?? []).map((r) => [`bucket ${r.binding}`, r.bucket_name]),
      ...(block.services ?? []).map((s) => [`service ${s.binding}`, s.service]),
      ...(block.durable_objects?.bindings ?? []).map((d) => [`script_name ${d.name}`, d.script_name]),
      ...(block.queues?.producers ?? []).map((q) => [`queue ${q.binding}`, q.queue]),
      ...(block.queues?.consumers ?? []).map((q, i) => [`consumer ${i}`, q.queue]),
    ];
    for (const worker of CONFIGS) {
      const config = readConfig(worker);
      const local = new Map(named(config));
      for (const env of envsOf(worker)) {
        for (const [what, value] of named(config.env[env])) {
          // A Durable Object defined by this very worker names no script, here or locally.
          const expected = local.get(what) === undefined ? undefined : `${local.get(what)}-${env}`;
          assert.equal(value, expected, `${worker} ${env} ${what}`);
        }
        if (worker !== "root") assert.equal(config.env[env].vars.ENVIRONMENT, env, `${worker} ${env} ENVIRONMENT`);
      }
    }
  });

  test("within an environment, the workers share one database, namespace, bucket and queue, and bind each other by their deployed names", () => {
    for (const env of ENVIRONMENTS) {
      const blocks = Object.fromEntries(["root", ...DEPLOYED_WORKERS].map((w) => [w, readConfig(w).env[env]]));
      const fronted = Object.fromEntries(blocks.gateway.services.map((b) => [b.binding, b.service]));
      assert.deepEqual(fronted, Object.fromEntries(PUBLIC_WORKERS.map((w) => [w.toUpperCase(), blocks[w].name])), `${env}: the gateway binds the four deployed workers`);
      const shared = (block) => ({
        d1: block.d1_databases.map(({ database_id, database_name }) => ({ database_id, database_name })),
        kv: block.kv_namespaces.map(({ id }) => id),
        r2: block.r2_buckets.map(({ bucket_name }) => bucket_name),
      });
      for (const worker of STORED) assert.deepEqual(shared(blocks[worker]), shared(blocks.root), `${worker} ${env}`);
      assert.deepEqual(shared({ kv_namespaces: [], r2_buckets: [], ...blocks.meter }).d1, shared(blocks.root).d1, `meter ${env}: the same database`);
      assert.equal(blocks.billing.services[0].service, blocks.webhooks.name, `${env}: billing binds the deployed webhooks worker`);
      assert.equal(blocks.api.services[0].service, blocks.billing.name, `${env}: api forwards to the deployed billing worker`);
      for (const worker of ["api", "billing", "webhooks", "catalog", "platform"]) {
        for (const binding of blocks[worker].durable_objects.bindings) {
          assert.equal(binding.script_name, blocks.meter.name, `${env}: ${worker} binds the meter worker's ${binding.class_name}`);
        }
      }
      assert.equal(blocks.webhooks.queues.consumers[0].queue, blocks.api.queues.producers[0].queue, `${env}: api's queue is the one webhooks consumes`);
      assert.equal(blocks.webhooks.queues.producers[0].queue, blocks.api.queues.producers[0].queue, env);
      assert.equal(blocks.billing.queues.producers[0].queue, blocks.api.queues.producers[0].queue, `${env}: billing queues to the same deliveries`);
    }
    const names = (env) => ["root", ...STORED].map((w) => readConfig(w).env[env].d1_databases[0].database_name);
    assert.notDeepEqual(names("staging"), names("production"));
  });

  test("the local config (what npm start and the tests run) holds no placeholder, and every env block's migrations folder is the local one", () => {
    for (const worker of CONFIGS) {
      const { env: envs, ...local } = readConfig(worker);
      assert.deepEqual(placeholdersIn(local, ""), [], worker);
      for (const env of envsOf(worker)) {
        if (!local.d1_databases) continue;
        assert.equal(envs[env].d1_databases[0].migrations_dir, local.d1_databases[0].migrations_dir, `${worker} ${env}`);
      }
    }
  });

  test("every secret an env block requires is one the deploy script checks, and production requires what staging does", () => {
    for (const worker of STORED) {
      const { env } = readConfig(worker);
      for (const name of ENVIRONMENTS) {
        const required = env[name].secrets?.required ?? [];
        assert.ok(required.length > 0, `${worker} ${name} requires its secrets`);
        for (const secret of required) assert.ok(secret in SECRET_CHECKS, `${worker} ${name}: ${secret}`);
      }
      for (const secret of env.staging.secrets.required) assert.ok(env.production.secrets.required.includes(secret), `${worker}: ${secret}`);
    }
  });

  test("every placeholder is explained in the README's placeholder table", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const all = new Set(CONFIGS.flatMap((w) => placeholdersIn(readConfig(w).env, "env").map((p) => p.value)));
    assert.ok(all.size > 0);
    for (const value of all) {
      const generic = value.replace(/^PLACEHOLDER_(STAGING|PRODUCTION)_/, "PLACEHOLDER_<ENV>_");
      assert.ok(readme.includes(`\`${generic}\``), `README names ${generic}`);
    }
  });

  test("the deploy script and the deploy workflow deploy exactly the workers that are not the sandbox", () => {
    assert.deepEqual([...DEPLOYED_WORKERS].sort(), [...WORKERS.filter((w) => w !== SANDBOX), GATEWAY].sort());
    assert.equal(DEPLOYED_WORKERS.at(-1), GATEWAY, "the gateway deploys after every worker it binds");
    assert.deepEqual([...new Set(FIRST_DEPLOY.map((s) => s.worker))].sort(), [...DEPLOYED_WORKERS].sort());
    assert.equal(DEPLOYED_WORKERS[0], "meter", "meter (which defines the Durable Objects) deploys first");

    const workflow = YAML.parse(readFileSync(join(ROOT, ".github/workflows/deploy.yml"), "utf8"));
    const steps = workflow.jobs.deploy.steps.map((s) => s.run ?? "").join("\n");
    assert.match(steps, /scripts\/run\.sh deploy --env "\$DEPLOY_ENV"/);
    assert.doesNotMatch(steps, /wrangler|stripe-sandbox/, "the workflow deploys only through the script");
    for (const secret of Object.keys(SECRET_CHECKS)) assert.ok(secret in workflow.jobs.deploy.env, `deploy.yml passes ${secret}`);
  });

  test("the CI workflow runs the same four steps as npm test", () => {
    const workflow = YAML.parse(readFileSync(join(ROOT, ".github/workflows/ci.yml"), "utf8"));
    const runs = workflow.jobs.test.steps.map((s) => s.run).filter(Boolean);
    assert.deepEqual(runs.filter((r) => r.startsWith("bash scripts/run.sh")), [
      "bash scripts/run.sh lint",
      "bash scripts/run.sh unit",
      "bash scripts/run.sh build",
      "bash scripts/run.sh integration",
    ]);
    assert.match(readFileSync(join(ROOT, "scripts/run.sh"), "utf8"), /test\)\n\s+lint\n\s+unit\n\s+build\n\s+integration\n/);
  });
});

describe("the deploy script refuses before changing anything", () => {
  const deploy = (args, env = {}) => {
    const scratch = mkdtempSync(join(tmpdir(), "tollgate-refusal-"));
    const log = join(scratch, "calls.ndjson");
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !(k in SECRET_CHECKS) && !k.startsWith("CLOUDFLARE_")),
    );
    const result = spawnSync(process.execPath, [join(ROOT, "scripts/deploy.mjs"), ...args], {
      encoding: "utf8",
      env: { ...clean, TOLLGATE_WRANGLER: join(ROOT, "tests/support/fake-wrangler.mjs"), FAKE_WRANGLER_LOG: log, ...env },
    });
    const calls = existsSync(log) ? readFileSync(log, "utf8") : "";
    rmSync(scratch, { recursive: true, force: true });
    return { code: result.status, output: result.stdout + result.stderr, calls };
  };

  const cases = [
    { name: "no --env", args: [], says: /--env is required: one of staging, production/ },
    { name: "an unknown environment", args: ["--env", "prod"], says: /unknown environment "prod": use one of staging, production/ },
    { name: "an environment name in the wrong case", args: ["--env=Staging"], says: /unknown environment "Staging"/ },
    { name: "an unknown flag", args: ["--env", "staging", "--force"], says: /unknown argument "--force"/ },
  ];
  for (const { name, args, says } of cases) {
    test(`${name} exits 2 with a clear error and runs nothing`, () => {
      const { code, output, calls } = deploy(args);
      assert.equal(code, 2, output);
      assert.match(output, says);
      assert.equal(calls, "");
    });
  }

  test("placeholders, missing credentials and missing secrets are all named, and nothing is built or run", () => {
    const { code, output, calls } = deploy(["--env", "production"]);

    assert.equal(code, 2, output);
    assert.match(output, /refusing to deploy to production; nothing was changed/);
    assert.match(output, /wrangler\.toml: env\.production\.d1_databases\[0\]\.database_id = PLACEHOLDER_PRODUCTION_D1_DATABASE_ID/);
    assert.match(output, /workers\/catalog\/wrangler\.toml: env\.production\.vars\.CATALOG_URL = PLACEHOLDER_PRODUCTION_CATALOG_URL/);
    assert.match(output, /Cloudflare credentials missing: CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID/);
    for (const secret of ["KEY_PEPPER", "DATA_ENCRYPTION_KEY", "DOWNLOAD_SIGNING_KEY", "STRIPE_SECRET_KEY_LIVE", "STRIPE_CLIENT_ID_LIVE", "STRIPE_WEBHOOK_SECRET"]) {
      assert.match(output, new RegExp(`${secret} is not set`));
    }
    assert.doesNotMatch(output, /building/);
    assert.equal(calls, "");
  });

  test("a malformed secret or setting is named with its rule and a secret's value is never printed", () => {
    const bad = {
      KEY_PEPPER: "too-short-pepper",
      DATA_ENCRYPTION_KEY: "bm90IDMyIGJ5dGVz",
      STRIPE_SECRET_KEY_TEST: "sk_live_wrongmodekey123",
      STRIPE_WEBHOOK_SECRET: "not-a-whsec-value",
    };
    const settings = { CLOUDFLARE_API_TOKEN: "t", CLOUDFLARE_ACCOUNT_ID: "a", TOLLGATE_HEALTH_TIMEOUT_SECONDS: "soon" };
    const { code, output, calls } = deploy(["--env", "staging"], { ...settings, ...bad });

    assert.equal(code, 2, output);
    assert.match(output, /KEY_PEPPER must be at least 32 bytes/);
    assert.match(output, /DATA_ENCRYPTION_KEY must be the base64 of exactly 32 bytes/);
    assert.match(output, /STRIPE_SECRET_KEY_TEST must start with sk_test_ or rk_test_/);
    assert.match(output, /STRIPE_WEBHOOK_SECRET must start with whsec_/);
    assert.match(output, /TOLLGATE_HEALTH_TIMEOUT_SECONDS must be a number of seconds above 0, at most 3600/);
    for (const value of Object.values(bad)) assert.ok(!output.includes(value), "a secret's value reached the output");
    assert.doesNotMatch(output, /Cloudflare credentials missing/);
    assert.equal(calls, "");
  });
});

describe("the deploy script against a stand-in wrangler", () => {
  // A copy of the configs with every placeholder filled in, a build that does nothing, a
  // wrangler that records its calls and a /health server: the remote steps, end to end.
  const SECRETS = {
    KEY_PEPPER: "p".repeat(40),
    DATA_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString("base64"),
    DOWNLOAD_SIGNING_KEY: "d".repeat(40),
    STRIPE_SECRET_KEY_TEST: "sk_test_secretvalue1",
    STRIPE_CLIENT_ID_TEST: "ca_clientvalue1",
    STRIPE_WEBHOOK_SECRET: "whsec_hookvalue1",
  };
  let root;
  let server;
  let unhealthy = new Set();
  const saved = {};

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "tollgate-deploy-root-"));
    for (const worker of ["root", ...DEPLOYED_WORKERS]) {
      const file = join(root, configPath(worker));
      mkdirSync(join(file, ".."), { recursive: true });
      const text = readFileSync(join(ROOT, configPath(worker)), "utf8").replace(/"PLACEHOLDER_([A-Z0-9_]+)"/g, '"filled-$1"');
      writeFileSync(file, text);
      assert.doesNotMatch(text, PLACEHOLDER);
    }
    mkdirSync(join(root, "scripts"));
    writeFileSync(join(root, "scripts/build.sh"), "echo '[build] stand-in' >&2\n");
    cpSync(join(ROOT, "migrations"), join(root, "migrations"), { recursive: true });
    server = createServer((req, res) => {
      const worker = req.url.split("/")[1];
      const ok = req.url.endsWith("/health") && !unhealthy.has(worker);
      res.writeHead(ok ? 200 : 503, { "Content-Type": "application/json" });
      res.end(JSON.stringify(ok ? { status: "ok", worker } : { status: "degraded", worker }));
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const env = {
      TOLLGATE_WRANGLER: join(ROOT, "tests/support/fake-wrangler.mjs"),
      FAKE_HEALTH_BASE: `http://127.0.0.1:${server.address().port}`,
    };
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });

  after(() => {
    server?.close();
    rmSync(root, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  async function deploy(args, { fail, secrets = SECRETS } = {}) {
    const log = join(root, `calls-${Math.random().toString(36).slice(2)}.ndjson`);
    process.env.FAKE_WRANGLER_LOG = log;
    if (fail) process.env.FAKE_WRANGLER_FAIL = fail;
    else delete process.env.FAKE_WRANGLER_FAIL;
    const lines = [];
    const environment = { CLOUDFLARE_API_TOKEN: "token", CLOUDFLARE_ACCOUNT_ID: "account", TOLLGATE_HEALTH_TIMEOUT_SECONDS: "1", ...secrets };
    let error;
    let code;
    try {
      code = await main(args, { root, environment, log: (text) => lines.push(text) });
    } catch (err) {
      error = err;
    }
    const calls = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
    return { code, error, calls, output: lines.join("") };
  }

  test("migrates first, then deploys meter, webhooks, billing, api, platform, catalog and the gateway, each with only its secrets, and checks their health", async () => {
    const { code, error, calls, output } = await deploy(["--env", "staging"]);

    assert.equal(error, undefined, output);
    assert.equal(code, 0);
    assert.deepEqual(calls[0].args, ["d1", "migrations", "apply", "DB", "--remote", "--env", "staging", "-c", "wrangler.toml"]);
    assert.deepEqual(calls.slice(1).map((c) => c.worker), ["meter", "webhooks", "billing", "api", "platform", "catalog", "gateway"]);
    for (const call of calls.slice(1)) {
      assert.equal(call.args[call.args.indexOf("--env") + 1], "staging");
      assert.equal(call.name, `tollgate-${call.worker}-staging`);
      const required = readConfig(call.worker, root).env.staging.secrets?.required ?? [];
      assert.deepEqual(Object.keys(call.secrets).sort(), [...required].sort(), call.worker);
      for (const name of required) assert.equal(call.secrets[name], SECRETS[name]);
      assert.ok(!existsSync(call.args[call.args.indexOf("--secrets-file") + 1]), "the secrets file is gone");
    }
    for (const worker of DEPLOYED_WORKERS) assert.match(output, new RegExp(`health ${worker} http://127\\.0\\.0\\.1:\\d+/${worker}/health: ok`));
    for (const value of Object.values(SECRETS)) assert.ok(!output.includes(value), "a secret's value reached the output");
  });

  test("a first deploy is the usual order: every worker once, each binding only what is already deployed", async () => {
    const { error, calls, output } = await deploy(["--env", "production", "--first-deploy"]);

    // Production requires the live Stripe secrets as well.
    assert.match(String(error?.message), /STRIPE_SECRET_KEY_LIVE is not set/, output);
    assert.deepEqual(calls, []);

    const live = { ...SECRETS, STRIPE_SECRET_KEY_LIVE: "sk_live_secretvalue1", STRIPE_CLIENT_ID_LIVE: "ca_clientvalue2" };
    const second = await deploy(["--env", "production", "--first-deploy"], { secrets: live });
    assert.equal(second.error, undefined, second.output);
    const deploys = second.calls.filter((c) => c.args[0] === "deploy");
    assert.deepEqual(
      deploys.map((c) => [c.worker, c.services]),
      [["meter", []], ["webhooks", []], ["billing", ["tollgate-webhooks-production"]], ["api", ["tollgate-billing-production"]], ["platform", ["tollgate-api-production"]], ["catalog", []], ["gateway", ["tollgate-platform-production", "tollgate-catalog-production", "tollgate-api-production", "tollgate-webhooks-production"]]],
    );
    assert.ok(!existsSync(join(root, "workers/api/wrangler.first-deploy.toml")), "the first-deploy config is removed");
  });

  test("a worker that fails to deploy stops the deploy: later workers are not deployed", async () => {
    const { error, calls } = await deploy(["--env", "staging"], { fail: "webhooks" });

    assert.match(String(error?.message), /deploy webhooks failed \(exit 1\); later steps were not run/);
    assert.deepEqual(calls.slice(1).map((c) => c.worker), ["meter", "webhooks"]);
  });

  test("a deployed worker that is not healthy fails the deploy, naming it", async () => {
    unhealthy = new Set(["platform"]);
    try {
      const { error, calls } = await deploy(["--env", "staging"]);

      assert.equal(calls.length, 8, "everything was deployed");
      assert.match(String(error?.message), /deployed, but not healthy:\n\s+- platform: http:\/\/127\.0\.0\.1:\d+\/platform\/health answered 503/);
      assert.doesNotMatch(String(error?.message), /- (api|webhooks|catalog):/);
    } finally {
      unhealthy = new Set();
    }
  });
});
