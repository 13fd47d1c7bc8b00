// One sample of a worker's cold instantiate in V8, printed as JSON: compiling its wasm
// module, then evaluating its wasm-bindgen glue, whose top level instantiates the module,
// runs the Rust start function and reads the init state — what a fresh isolate does before
// its first request. Run once per sample by `scripts/bench.mjs`, each in a new process: V8
// shares compiled wasm between modules of one process, so a second sample would be warm.
//
// Usage: node scripts/bench-cold.mjs <worker>

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "./stack.mjs";

const worker = process.argv[2];
const build = join(ROOT, "workers", worker ?? "", "build");
const bytes = readFileSync(join(build, "index_bg.wasm"));
const source = readFileSync(join(build, "index.js"), "utf8");

// The glue's two runtime imports, which only workerd resolves, read from globals instead.
const entrypoint = /import\{WorkerEntrypoint as (\w+)\}from"cloudflare:workers";/;
const wasm = /import (\w+) from"\.\/index_bg\.wasm";/;
if (!entrypoint.test(source) || !wasm.test(source)) {
  throw new Error(`${worker}: the glue's imports are not the ones this sampler rewrites`);
}
const glue = source
  .replace(entrypoint, "const $1 = globalThis.__benchEntrypoint;")
  .replace(wasm, "const $1 = globalThis.__benchModule;");
const dir = mkdtempSync(join(tmpdir(), "tollgate-cold-"));
const file = join(dir, "index.mjs");
writeFileSync(file, glue);

// What workerd's global scope offers and the glue's top level touches.
globalThis.__benchEntrypoint = class {};
globalThis.addEventListener ??= () => {};

try {
  const start = performance.now();
  globalThis.__benchModule = new WebAssembly.Module(bytes);
  const compiled = performance.now();
  await import(pathToFileURL(file).href);
  const done = performance.now();
  process.stdout.write(`${JSON.stringify({ compileMs: compiled - start, instantiateMs: done - compiled, totalMs: done - start })}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
