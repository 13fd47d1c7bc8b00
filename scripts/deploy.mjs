// Deploys Tollgate to a Cloudflare environment: `npm run deploy -- --env staging|production`.
// The same script runs from a laptop and from .github/workflows/deploy.yml.
//
//   1. preflight, before anything changes: the environment exists, no PLACEHOLDER_* value
//      is left in it, Cloudflare credentials and every required secret are present and
//      well-formed (named, never echoed)
//   2. build the deployed workers, and dry-run each bundle (refused over 1 MiB gzipped)
//   3. `wrangler d1 migrations apply DB --remote --env <env>` from the root config
//   4. `wrangler deploy --env <env> --secrets-file <0600 temp file>` per worker, meter first
//   5. GET /health on every deployed worker; any answer but 200 `status: ok` fails the deploy
//
// `--dry-run` runs 1 and 2 offline, reports what a real deploy would refuse, and prints the
// remote commands instead of running them. `--first-deploy` is kept for scripts that pass
// it: with the Durable Objects in the meter worker the order has no cycle, so a first
// deploy is the usual one (see FIRST_DEPLOY below).

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parse, stringify } from "smol-toml";

export const ROOT = resolve(import.meta.dirname, "..");
export const ENVIRONMENTS = ["staging", "production"];

/**
 * The deployed workers in deploy order. meter goes first: it defines the Durable Object
 * classes (Meter, CheckoutPush) the others bind by script name, and binds nothing itself.
 * webhooks comes before billing (which binds it as a service), billing before api (which
 * forwards to it), api before platform (which tells it of key changes); the gateway (the one
 * public origin) goes last, once every worker it binds exists. The Stripe sandbox is never
 * deployed by this script.
 */
export const DEPLOYED_WORKERS = ["meter", "webhooks", "billing", "api", "platform", "catalog", "gateway"];

/**
 * A first deploy, where no worker exists yet. With the Durable Objects in the meter worker
 * nothing binds in a cycle any more, so it is the usual order.
 */
export const FIRST_DEPLOY = DEPLOYED_WORKERS.map((worker) => ({ worker }));

/** Cloudflare's limit this project holds every worker to: its gzipped upload. */
export const BUNDLE_LIMIT_GZ = 1024 * 1024;
/** The design's budget for a worker's gzipped wasm (reported, enforced by the build review). */
export const WASM_BUDGET_GZ = 300_000;
/**
 * Workers held to a budget of their own. The api worker serves the hot path (metering): its
 * buying routes moved to the billing worker to keep it small and quick to start, and this
 * budget keeps them from growing back in.
 */
export const WASM_BUDGETS_GZ = { api: 260_000 };
/** A worker's gzipped wasm budget. */
export const wasmBudget = (worker) => WASM_BUDGETS_GZ[worker] ?? WASM_BUDGET_GZ;

export const PLACEHOLDER = /^PLACEHOLDER_/;

/** Secrets a worker uploads when they are set, beyond its config's `secrets.required`. */
export const OPTIONAL_SECRETS = {
  platform: ["STRIPE_SECRET_KEY_LIVE"],
  catalog: ["STRIPE_SECRET_KEY_LIVE", "STRIPE_CLIENT_ID_LIVE"],
  api: ["STRIPE_SECRET_KEY_LIVE"],
  billing: ["STRIPE_SECRET_KEY_LIVE"],
  webhooks: ["STRIPE_SECRET_KEY_LIVE", "STRIPE_WEBHOOK_SECRET_LIVE", "STRIPE_WEBHOOK_SECRET_PREVIOUS", "STRIPE_WEBHOOK_SECRET_LIVE_PREVIOUS"],
  gateway: [],
};

const atLeast32Bytes = (v) => (Buffer.byteLength(v) >= 32 ? null : "must be at least 32 bytes");
const prefixed = (...prefixes) => (v) => (prefixes.some((p) => v.startsWith(p)) ? null : `must start with ${prefixes.join(" or ")}`);

/** Every secret the deploy knows, with the check its worker would otherwise fail at runtime. */
export const SECRET_CHECKS = {
  KEY_PEPPER: atLeast32Bytes,
  DOWNLOAD_SIGNING_KEY: atLeast32Bytes,
  DATA_ENCRYPTION_KEY: (v) => {
    const raw = Buffer.from(v.trim(), "base64");
    return raw.length === 32 && raw.toString("base64") === v.trim() ? null : "must be the base64 of exactly 32 bytes";
  },
  STRIPE_SECRET_KEY_TEST: prefixed("sk_test_", "rk_test_"),
  STRIPE_SECRET_KEY_LIVE: prefixed("sk_live_", "rk_live_"),
  STRIPE_CLIENT_ID_TEST: prefixed("ca_"),
  STRIPE_CLIENT_ID_LIVE: prefixed("ca_"),
  STRIPE_WEBHOOK_SECRET: prefixed("whsec_"),
  STRIPE_WEBHOOK_SECRET_LIVE: prefixed("whsec_"),
  STRIPE_WEBHOOK_SECRET_PREVIOUS: prefixed("whsec_"),
  STRIPE_WEBHOOK_SECRET_LIVE_PREVIOUS: prefixed("whsec_"),
};

export const CREDENTIALS = ["CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"];

/** The config file of a worker (or of the shared resources, `root`), relative to the repo. */
export const configPath = (worker) => (worker === "root" ? "wrangler.toml" : join("workers", worker, "wrangler.toml"));
export const readConfig = (worker, root = ROOT) => parse(readFileSync(join(root, configPath(worker)), "utf8"));

/** Every string under `value` whose text is a placeholder, with its dotted path. */
export function placeholdersIn(value, path) {
  if (typeof value === "string") return PLACEHOLDER.test(value) ? [{ path, value }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => placeholdersIn(v, `${path}[${i}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => placeholdersIn(v, path ? `${path}.${k}` : k));
  }
  return [];
}

/** The placeholders left in `env` across the root config and every deployed worker's. */
export function placeholders(env, root = ROOT) {
  return ["root", ...DEPLOYED_WORKERS].flatMap((worker) =>
    placeholdersIn(readConfig(worker, root).env?.[env], `env.${env}`).map((p) => ({ file: configPath(worker), ...p })),
  );
}

/**
 * Each worker's secrets for `env`, read from `environment`: its config's required ones
 * (missing or malformed → a problem) and the optional ones that are set. Problems name the
 * secret and the rule, never the value.
 */
export function collectSecrets(env, environment, root = ROOT) {
  const perWorker = {};
  const problems = new Map();
  for (const worker of DEPLOYED_WORKERS) {
    const required = readConfig(worker, root).env?.[env]?.secrets?.required ?? [];
    const names = [...new Set([...required, ...(OPTIONAL_SECRETS[worker] ?? [])])];
    perWorker[worker] = {};
    for (const name of names) {
      const value = environment[name];
      if (value === undefined || value === "") {
        if (required.includes(name)) problems.set(name, "is not set");
        continue;
      }
      const check = SECRET_CHECKS[name];
      const wrong = check ? check(value) : `is not a secret the deploy knows (add it to SECRET_CHECKS)`;
      if (wrong) problems.set(name, wrong);
      else perWorker[worker][name] = value;
    }
  }
  return { perWorker, problems: [...problems].map(([name, why]) => `${name} ${why}`) };
}

/** `gzip -9` of `bytes`: the same measure scripts/build.sh prints and the design budgets. */
const gzipSize = (bytes) => execFileSync("gzip", ["-9", "-c"], { input: bytes, maxBuffer: 64 << 20 }).length;

/** Files wrangler would upload from a dry-run's outdir (the README and source maps stay home). */
const uploadedFiles = (outdir) =>
  readdirSync(outdir).filter((f) => f !== "README.md" && !f.endsWith(".map") && statSync(join(outdir, f)).isFile());

/**
 * `wrangler deploy --dry-run --outdir` for one worker and environment: offline, no
 * credentials. Returns the upload's raw and gzipped bytes and the wasm's gzipped bytes.
 */
export async function dryRunBundle(worker, env, outdir, { root = ROOT, wrangler = wranglerCommand(root), config } = {}) {
  const args = ["deploy", "--dry-run", "--outdir", outdir, "--env", env, ...(config ? ["--config", config] : [])];
  const { code, output } = await run(wrangler, args, { cwd: join(root, "workers", worker), quiet: true });
  if (code !== 0) throw new Error(`wrangler deploy --dry-run failed for ${worker} (${env}), exit ${code}:\n${output}`);
  const files = uploadedFiles(outdir);
  const bytes = files.map((f) => readFileSync(join(outdir, f)));
  const wasm = files.find((f) => f.endsWith(".wasm"));
  return {
    worker,
    env,
    files,
    rawBytes: bytes.reduce((n, b) => n + b.length, 0),
    gzBytes: gzipSize(Buffer.concat(bytes)),
    wasmGzBytes: wasm ? gzipSize(readFileSync(join(outdir, wasm))) : 0,
  };
}

export function bundleTable(results) {
  const rows = results.map(
    (r) =>
      `${r.worker.padEnd(15)} ${r.env.padEnd(11)} ${String(r.gzBytes).padStart(10)} ${String(r.wasmGzBytes).padStart(10)}  ${
        r.wasmGzBytes <= wasmBudget(r.worker) ? "within" : "OVER"
      } the ${wasmBudget(r.worker)} B wasm budget (${(100 * r.wasmGzBytes / wasmBudget(r.worker)).toFixed(1)}%)`,
  );
  return [`${"worker".padEnd(15)} ${"env".padEnd(11)} ${"upload gz".padStart(10)} ${"wasm gz".padStart(10)}`, ...rows].join("\n");
}

/** wrangler from the project's node_modules, run by this Node (or TOLLGATE_WRANGLER, for tests). */
export function wranglerCommand(root = ROOT) {
  if (process.env.TOLLGATE_WRANGLER) return [process.execPath, process.env.TOLLGATE_WRANGLER];
  return [process.execPath, join(root, "node_modules", "wrangler", "bin", "wrangler.js")];
}

/** The environment every wrangler call runs with: non-interactive, no telemetry. */
const wranglerEnv = (extra = {}) => ({
  ...process.env,
  CI: "1",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  DO_NOT_TRACK: "1",
  ...extra,
});

/**
 * Runs a command; its output goes to stderr (unless quiet) with every value in `redact`
 * replaced, and is returned for error messages.
 */
function run([cmd, ...pre], args, { cwd = ROOT, env = {}, quiet = false, redact = [] } = {}) {
  return new Promise((done) => {
    const child = spawn(cmd, [...pre, ...args], { cwd, env: wranglerEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    const chunks = [];
    const scrub = (text) => redact.reduce((t, secret) => t.split(secret).join("[redacted]"), text);
    const take = (chunk) => {
      const text = scrub(chunk.toString());
      chunks.push(text);
      if (!quiet) sink(text);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (err) => done({ code: 127, output: String(err) }));
    child.on("close", (code) => done({ code, output: chunks.join("") }));
  });
}

/** The worker's health URL: TOLLGATE_HEALTH_URL_<WORKER> when set, else its first deployed URL. */
export function healthUrl(worker, targets, environment = process.env) {
  const override = environment[`TOLLGATE_HEALTH_URL_${worker.toUpperCase()}`];
  const base = override || targets.find((t) => /^https?:\/\//.test(t));
  return base ? `${base.replace(/\/+$/, "").replace(/\/health$/, "")}/health` : null;
}

/** GET /health until it answers 200 `{status:"ok"}` or `timeoutMs` passes; the last answer. */
export async function checkHealth(url, { timeoutMs = 60_000, intervalMs = 3_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      let status;
      try {
        status = JSON.parse(text).status;
      } catch {
        status = undefined;
      }
      last = `${res.status} ${text.slice(0, 300)}`;
      if (res.status === 200 && status === "ok") return { ok: true, detail: last };
    } catch (err) {
      last = String(err.cause?.code ?? err.message ?? err);
    }
    if (Date.now() >= deadline) return { ok: false, detail: last };
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

class Refusal extends Error {}

export function parseArgs(argv) {
  const options = { env: undefined, dryRun: false, firstDeploy: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--env" || arg === "-e") options.env = argv[++i];
    else if (arg.startsWith("--env=")) options.env = arg.slice("--env=".length);
    else if (arg === "--dry-run") options.dryRun = true;
    else if (arg === "--first-deploy") options.firstDeploy = true;
    else if (arg === "--help" || arg === "-h") options.help = true;
    else throw new Refusal(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (options.help) return options;
  if (!options.env) throw new Refusal(`--env is required: one of ${ENVIRONMENTS.join(", ")}`);
  if (!ENVIRONMENTS.includes(options.env)) {
    throw new Refusal(`unknown environment ${JSON.stringify(options.env)}: use one of ${ENVIRONMENTS.join(", ")}`);
  }
  return options;
}

const USAGE = `usage: npm run deploy -- --env <${ENVIRONMENTS.join("|")}> [--dry-run] [--first-deploy]

  --env           the wrangler environment ([env.<name>] in every wrangler.toml)
  --dry-run       preflight, build and bundle checks offline; print the remote steps only
  --first-deploy  the account has none of the workers yet (the usual order serves: no
                  worker binds one deployed after it)

Needs CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID and the secrets each worker's
[env.<name>.secrets] lists, in the environment. TOLLGATE_HEALTH_URL_<WORKER> overrides a
worker's health URL (default: the URL wrangler reports after deploying it);
TOLLGATE_HEALTH_TIMEOUT_SECONDS (default 60) bounds the wait for each one.`;

/** Where progress goes: stderr, or the `log` a caller of main() passes. */
const toStderr = (text) => process.stderr.write(text);
let sink = toStderr;
const say = (line) => sink(`[deploy] ${line}\n`);

export const FIRST_DEPLOY_CONFIG = "wrangler.first-deploy.toml";

/**
 * Writes the config a first deploy uses for `worker`: its real one without `without` in the
 * env block, beside the real one (so relative paths resolve the same). Returns its path.
 */
export function bootstrapConfig(worker, env, without, root = ROOT) {
  const config = readConfig(worker, root);
  delete config.env[env][without];
  const file = join(root, "workers", worker, FIRST_DEPLOY_CONFIG);
  writeFileSync(file, `# Written by scripts/deploy.mjs for a first deploy; deleted when it ends.\n${stringify(config)}\n`);
  return file;
}

export async function main(argv, { root = ROOT, environment = process.env, log } = {}) {
  sink = log ?? toStderr;
  const options = parseArgs(argv);
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { env, dryRun } = options;
  say(`${dryRun ? "dry run for" : "deploying to"} ${env}: ${DEPLOYED_WORKERS.join(", ")}`);

  // 1. Preflight: everything a real deploy refuses, reported together, before any change.
  const refusals = [];
  const left = placeholders(env, root);
  if (left.length > 0) {
    refusals.push(
      `${left.length} placeholder value(s) remain in the ${env} environment (README "Deploying" says where each comes from):\n` +
        left.map((p) => `    ${p.file}: ${p.path} = ${p.value}`).join("\n"),
    );
  }
  const missingCredentials = CREDENTIALS.filter((name) => !environment[name]);
  if (missingCredentials.length > 0) refusals.push(`Cloudflare credentials missing: ${missingCredentials.join(", ")}`);
  const healthTimeout = Number(environment.TOLLGATE_HEALTH_TIMEOUT_SECONDS || 60);
  if (!(healthTimeout > 0 && healthTimeout <= 3600)) refusals.push("TOLLGATE_HEALTH_TIMEOUT_SECONDS must be a number of seconds above 0, at most 3600");
  const { perWorker, problems } = collectSecrets(env, environment, root);
  if (problems.length > 0) refusals.push(`secrets for ${env}:\n${problems.map((p) => `    ${p}`).join("\n")}`);
  if (refusals.length > 0) {
    const report = refusals.map((r) => `  - ${r}`).join("\n");
    if (!dryRun) throw new Refusal(`refusing to deploy to ${env}; nothing was changed:\n${report}`);
    say(`a real deploy would refuse (continuing, --dry-run):\n${report}`);
  }

  // 2. Build, and prove every bundle fits before anything is uploaded.
  say("building the deployed workers");
  const build = await run(["bash"], [join(root, "scripts", "build.sh"), ...DEPLOYED_WORKERS], { cwd: root });
  if (build.code !== 0) throw new Error(`build failed (exit ${build.code})`);
  const scratch = mkdtempSync(join(tmpdir(), "tollgate-deploy-"));
  const firstDeployFiles = [];
  try {
    const bundles = [];
    for (const worker of DEPLOYED_WORKERS) bundles.push(await dryRunBundle(worker, env, join(scratch, `bundle-${worker}`), { root }));
    if (options.firstDeploy) {
      // The first-deploy configs are checked the same way before anything is uploaded.
      for (const { worker, without } of FIRST_DEPLOY.filter((s) => s.without)) {
        firstDeployFiles.push(bootstrapConfig(worker, env, without, root));
        const outdir = join(scratch, `bundle-${worker}-first`);
        bundles.push({ ...(await dryRunBundle(worker, env, outdir, { root, config: FIRST_DEPLOY_CONFIG })), worker: `${worker} (first)` });
      }
    }
    say(`bundles (gzip -9):\n${bundleTable(bundles)}`);
    const over = bundles.filter((b) => b.gzBytes > BUNDLE_LIMIT_GZ);
    if (over.length > 0) throw new Error(`over the ${BUNDLE_LIMIT_GZ} B gzipped limit: ${over.map((b) => `${b.worker} ${b.gzBytes}`).join(", ")}`);

    const wrangler = wranglerCommand(root);
    const secretValues = Object.values(perWorker).flatMap((s) => Object.values(s));
    const steps = [
      {
        what: `migrate D1 (${env})`,
        cwd: root,
        args: ["d1", "migrations", "apply", "DB", "--remote", "--env", env, "-c", "wrangler.toml"],
      },
      ...(options.firstDeploy ? FIRST_DEPLOY : DEPLOYED_WORKERS.map((worker) => ({ worker }))).map(({ worker, without }) => {
        const secretsFile = join(scratch, `secrets-${worker}.json`);
        const args = ["deploy", "--env", env, "--secrets-file", secretsFile];
        if (without) args.push("--config", FIRST_DEPLOY_CONFIG);
        return { what: `deploy ${worker}${without ? ` (first deploy: without its ${without})` : ""}`, worker, without, secretsFile, cwd: join(root, "workers", worker), args };
      }),
    ];

    if (dryRun) {
      say("remote steps a real deploy runs (not run: --dry-run):");
      for (const step of steps) {
        const names = step.worker ? Object.keys(perWorker[step.worker]) : [];
        const shown = step.args.map((a) => (a === step.secretsFile ? "<0600 temp file>" : a));
        say(`  ${step.what}: wrangler ${shown.join(" ")}${step.worker ? ` (secrets: ${names.join(", ") || "none set"})` : ""}`);
      }
      say(`  then GET /health on ${DEPLOYED_WORKERS.join(", ")}`);
      return 0;
    }

    // 3–4. Migrate, then deploy each worker with its secrets in the same version.
    const targets = {};
    for (const step of steps) {
      say(step.what);
      const output = join(scratch, `output-${step.worker ?? "migrate"}.ndjson`);
      rmSync(output, { force: true });
      if (step.worker) {
        writeFileSync(step.secretsFile, JSON.stringify(perWorker[step.worker]), { mode: 0o600 });
      }
      const result = await run(wrangler, step.args, { cwd: step.cwd, env: { WRANGLER_OUTPUT_FILE_PATH: output }, redact: secretValues });
      if (step.worker) rmSync(step.secretsFile, { force: true });
      if (result.code !== 0) {
        const hint = /Could not resolve service binding|10143|10061/.test(result.output) && !options.firstDeploy
          ? "\n  A bound worker does not exist yet: deploy in this script's order, meter first (docs/operations.md)."
          : "";
        throw new Error(`${step.what} failed (exit ${result.code}); later steps were not run.${hint}`);
      }
      if (step.worker && existsSync(output)) {
        const entries = readFileSync(output, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
        const deployed = entries.filter((e) => e.type === "deploy").at(-1);
        targets[step.worker] = deployed?.targets ?? [];
      }
    }

    // 5. Every deployed worker answers /health.
    const unhealthy = [];
    for (const worker of DEPLOYED_WORKERS) {
      const url = healthUrl(worker, targets[worker] ?? [], environment);
      if (!url) {
        unhealthy.push(`${worker}: no URL (set TOLLGATE_HEALTH_URL_${worker.toUpperCase()})`);
        continue;
      }
      const timeoutMs = 1000 * healthTimeout;
      const { ok, detail } = await checkHealth(url, { timeoutMs, intervalMs: Math.min(3_000, timeoutMs / 4) });
      say(`health ${worker} ${url}: ${ok ? "ok" : `NOT OK (${detail})`}`);
      if (!ok) unhealthy.push(`${worker}: ${url} answered ${detail}`);
    }
    if (unhealthy.length > 0) throw new Error(`deployed, but not healthy:\n${unhealthy.map((u) => `  - ${u}`).join("\n")}`);
    say(`${env} is deployed and healthy`);
    return 0;
  } finally {
    for (const file of firstDeployFiles) rmSync(file, { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`[deploy] ${err instanceof Refusal ? "" : "FAILED: "}${err.message}\n`);
      if (err instanceof Refusal && !/nothing was changed/.test(err.message)) process.stderr.write(`${USAGE}\n`);
      process.exit(err instanceof Refusal ? 2 : 1);
    },
  );
}
