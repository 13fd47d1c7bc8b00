#!/usr/bin/env node
// Builds the developer console (console/ → console/dist, served by the platform worker):
// types generated from the contract, a type check, the Vite build, then the first-load
// budget: the entry chunk plus everything it imports statically, gzip -9, at most 200 KB.
// Usage: node scripts/console.mjs [--types-only]

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";

const ROOT = resolve(import.meta.dirname, "..");
export const FIRST_LOAD_BUDGET_GZ = 200_000;
const CONSOLE = join(ROOT, "console");
const DIST = join(CONSOLE, "dist");
const bin = (name) => join(ROOT, "node_modules", ".bin", name);
const run = (cmd, args) => execFileSync(bin(cmd), args, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });

/** The generated client types: gitignored, rebuilt from the contract on every build. */
export function generateTypes() {
  run("openapi-typescript", ["schemas/openapi.yaml", "-o", "console/src/api/schema.d.ts"]);
}

/** Files the entry loads before anything renders: its chunk and static imports, transitively. */
export function firstLoadFiles(manifest) {
  const entry = Object.keys(manifest).find((k) => manifest[k].isEntry);
  if (!entry) throw new Error("the Vite manifest has no entry");
  const seen = new Set();
  const walk = (key) => {
    if (seen.has(key)) return;
    seen.add(key);
    for (const dep of manifest[key].imports ?? []) walk(dep);
  };
  walk(entry);
  return [...seen].map((k) => manifest[k].file);
}

export function measure() {
  const manifest = JSON.parse(readFileSync(join(DIST, ".vite", "manifest.json"), "utf8"));
  const files = firstLoadFiles(manifest).filter((f) => f.endsWith(".js"));
  const rows = files.map((file) => ({ file, gz: gzipSync(readFileSync(join(DIST, file)), { level: 9 }).length }));
  return { rows, total: rows.reduce((n, r) => n + r.gz, 0) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  generateTypes();
  if (process.argv.includes("--types-only")) process.exit(0);
  process.stderr.write("[console] type check\n");
  run("tsc", ["-p", "console"]);
  process.stderr.write("[console] vite build\n");
  run("vite", ["build", "console", "--logLevel", "warn"]);
  const { rows, total } = measure();
  for (const r of rows) process.stderr.write(`  ${r.file.padEnd(40)} ${String(r.gz).padStart(9)} gz\n`);
  process.stderr.write(`console first-load JS (gzip -9): ${total} bytes of ${FIRST_LOAD_BUDGET_GZ}\n`);
  if (total > FIRST_LOAD_BUDGET_GZ) {
    process.stderr.write(`[console] over budget by ${total - FIRST_LOAD_BUDGET_GZ} bytes\n`);
    process.exit(1);
  }
}
