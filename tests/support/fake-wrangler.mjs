// A stand-in for wrangler in the deploy script's tests: it records each call (arguments,
// the working directory's worker, the names and values of the secrets file it was given, the
// config's service bindings) to FAKE_WRANGLER_LOG and never touches a network.
//   deploy --dry-run --outdir D  writes a small bundle into D
//   deploy                       writes wrangler's output file with a URL under FAKE_HEALTH_BASE
//   d1 migrations apply          succeeds
// FAKE_WRANGLER_FAIL=<worker> makes that worker's (real) deploy exit 1.

import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parse } from "smol-toml";

const args = process.argv.slice(2);
const flag = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const worker = basename(dirname(process.cwd())) === "workers" ? basename(process.cwd()) : undefined;
const env = flag("--env");
const record = { args, worker };

if (args[0] === "deploy" && args.includes("--dry-run")) {
  const outdir = flag("--outdir");
  mkdirSync(outdir, { recursive: true });
  writeFileSync(join(outdir, "entry.js"), `export default {}; // ${worker}`);
  writeFileSync(join(outdir, "abc-index_bg.wasm"), Buffer.alloc(4096, 7));
  writeFileSync(join(outdir, "README.md"), "not uploaded");
} else if (args[0] === "deploy") {
  const secretsFile = flag("--secrets-file");
  record.secrets = secretsFile ? JSON.parse(readFileSync(secretsFile, "utf8")) : null;
  const config = parse(readFileSync(join(process.cwd(), flag("--config") ?? "wrangler.toml"), "utf8"));
  record.services = (config.env?.[env]?.services ?? []).map((s) => s.service);
  record.name = config.env?.[env]?.name;
  appendFileSync(process.env.FAKE_WRANGLER_LOG, `${JSON.stringify(record)}\n`);
  if (process.env.FAKE_WRANGLER_FAIL === worker) {
    console.error(`✘ [ERROR] fake failure deploying ${worker}`);
    process.exit(1);
  }
  const targets = [`${process.env.FAKE_HEALTH_BASE}/${worker}`];
  writeFileSync(process.env.WRANGLER_OUTPUT_FILE_PATH, `${JSON.stringify({ type: "deploy", version: 1, worker_name: record.name, targets })}\n`);
  console.log(`Deployed ${record.name}`);
  process.exit(0);
}
if (!(args[0] === "deploy" && args.includes("--dry-run"))) appendFileSync(process.env.FAKE_WRANGLER_LOG, `${JSON.stringify(record)}\n`);
