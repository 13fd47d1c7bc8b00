#!/usr/bin/env node
// Builds @tollgate/sdk (sdk/ → sdk/dist with tsc) and @tollgate/react (sdk/react → its dist,
// with styles.css), then prints the min+gz size of what an app ships for each: the server
// client, the browser client, the webhook verifier and the React package (React itself left
// out), each bundled and minified by esbuild from the built ESM with tree shaking.
// Usage: node scripts/sdk.mjs [--no-size]

import { execFileSync } from "node:child_process";
import { copyFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";

const ROOT = resolve(import.meta.dirname, "..");
const SDK = join(ROOT, "sdk");
const bin = (name) => join(ROOT, "node_modules", ".bin", name);

/** What each measured bundle imports, as an app would. */
export const BUNDLES = {
  "server client": `export { Tollgate } from "./dist/index.js";`,
  "browser client": `export { TollgateBrowser } from "./dist/browser-entry.js";`,
  "webhook verifier": `export { Webhook } from "./dist/webhooks-entry.js";`,
  "react (with browser)": `export * from "./react/dist/index.js";`,
  "react (without sdk)": `export * from "./react/dist/index.js";`,
};
const REACT = join(SDK, "react");

/** Bundles `source` (resolved in sdk/) minified for browsers; answers raw and gzip -9 bytes. */
export async function measure(source, { resolveDir = SDK, sdkExternal = false } = {}) {
  const { build } = await import("esbuild");
  // How an app resolves @tollgate/sdk: here, the built package beside the React one.
  const sdk = {
    name: "tollgate-sdk",
    setup(b) {
      b.onResolve({ filter: /^@tollgate\/sdk\/browser$/ }, () =>
        sdkExternal ? { path: "@tollgate/sdk/browser", external: true } : { path: join(SDK, "dist", "browser-entry.js") },
      );
    },
  };
  const out = await build({
    stdin: { contents: source, resolveDir, loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
    external: ["react", "react-dom", "react/jsx-runtime"],
    plugins: [sdk],
  });
  const code = out.outputFiles[0].contents;
  return { raw: code.length, gz: gzipSync(code, { level: 9 }).length };
}

export function buildSdk() {
  rmSync(join(SDK, "dist"), { recursive: true, force: true });
  execFileSync(bin("tsc"), ["-p", SDK], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  rmSync(join(REACT, "dist"), { recursive: true, force: true });
  execFileSync(bin("tsc"), ["-p", REACT], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  copyFileSync(join(REACT, "src", "styles.css"), join(REACT, "dist", "styles.css"));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stderr.write("[sdk] tsc (sdk, react)\n");
  buildSdk();
  if (!process.argv.includes("--no-size")) {
    process.stderr.write(`${"bundle (min, esbuild)".padEnd(24)} ${"bytes".padStart(9)} ${"gzip -9".padStart(9)}\n`);
    for (const [name, source] of Object.entries(BUNDLES)) {
      const { raw, gz } = await measure(source, { sdkExternal: name === "react (without sdk)" });
      process.stderr.write(`${name.padEnd(24)} ${String(raw).padStart(9)} ${String(gz).padStart(9)}\n`);
    }
  }
}
