#!/usr/bin/env node
// The example apps (examples/saas, examples/store) against a running Tollgate: one command
// each (`npm run example:saas`, `npm run example:store`). It finds the app's keys (from the
// environment, or a demo project it made earlier and kept in the stack's state folder, or it
// makes one now), builds the app with Vite and serves it with its small backend.
//
// Making a demo project is what a developer does in the console, done here with the console
// API: sign in through the development issuer (local stacks only) as the README's
// `demo-developer`, create the project, connect the sandbox Stripe account if that developer
// has none (the consent page's Connect button), and add the tiers or the products with their
// images and files. The apps themselves talk to Tollgate only through @tollgate/sdk and
// @tollgate/react.
//
// Usage: node scripts/examples.mjs saas|store   (what the npm scripts run)
//        node scripts/examples.mjs check        (type-checks both apps; scripts/run.sh unit)
// Environment: TOLLGATE_URL (default http://127.0.0.1:8787, or TOLLGATE_BASE_PORT's),
// TOLLGATE_SECRET_KEY + TOLLGATE_PUBLISHABLE_KEY (your own project: nothing is made),
// TOLLGATE_STATE (where the demo keys are kept, as for npm start), PORT (the app's).

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { crc32, deflateSync } from "node:zlib";

const ROOT = resolve(import.meta.dirname, "..");
const EXAMPLES_DIR = join(ROOT, "examples");

/** Both apps: what each sells, and where it listens by default. */
export const EXAMPLES = {
  saas: {
    project: { name: "Example SaaS", type: "saas" },
    port: 5174,
    tiers: [
      { name: "free", displayName: "Free", price: 0, limit: 3, features: ["3 names a month"] },
      { name: "pro", displayName: "Pro", price: 900, limit: 100, popular: true, features: ["100 names a month", "Every style"] },
      { name: "team", displayName: "Team", price: 2900, limit: "unlimited", features: ["Unlimited names", "Every style"] },
    ],
  },
  store: {
    project: { name: "Example Store", type: "store" },
    port: 5175,
    products: [
      {
        name: "guide",
        displayName: "The API pricing guide",
        description: "Forty pages on tiers, limits and what to charge for.",
        price: 1500,
        inventory: null,
        color: [44, 96, 201],
        file: { filename: "api-pricing-guide.txt", text: "The API pricing guide\n\n1. Charge for the value, meter the cost.\n" },
      },
      {
        name: "templates",
        displayName: "Pricing page templates",
        description: "Six pricing pages to start from.",
        price: 900,
        inventory: null,
        color: [28, 140, 96],
        file: { filename: "pricing-templates.txt", text: "Pricing page templates\n\nFree, Pro, Team: three columns, one highlighted.\n" },
      },
      {
        name: "founders",
        displayName: "Founders' edition",
        description: "The guide, the templates and a numbered letter. 25 copies.",
        price: 4900,
        inventory: 25,
        color: [190, 90, 30],
        file: { filename: "founders-edition.txt", text: "Founders' edition\n\nThank you for being one of the first twenty-five.\n" },
      },
    ],
  },
};

/** The bytes of a product's downloadable file, as the seed uploads them. */
export const fileBytes = (product) => Buffer.from(product.file.text, "utf8");

/** A small striped PNG in `color`: the product's image, made here so nothing is downloaded. */
export function stripedPng([r, g, b], width = 240, height = 160) {
  const row = width * 3 + 1;
  const raw = Buffer.alloc(row * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const light = Math.floor((x + y) / 20) % 2 === 0;
      const at = y * row + 1 + x * 3;
      raw[at] = light ? r : Math.floor(r * 0.7);
      raw[at + 1] = light ? g : Math.floor(g * 0.7);
      raw[at + 2] = light ? b : Math.floor(b * 0.7);
    }
  }
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const check = Buffer.alloc(4);
    check.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, check]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The console API as a signed-in developer: JSON in and out, any failure thrown with its answer. */
function developerApi(baseUrl, token) {
  return async function call(method, path, { body, raw, headers = {}, expect = [200, 201] } = {}) {
    const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers }, redirect: "manual" };
    if (raw) init.body = raw;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const res = await fetch(`${baseUrl}${path}`, init);
    const text = await res.text();
    if (!expect.includes(res.status)) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
}

/** The hidden fields and action of the sandbox consent page's form, as a browser would post them. */
function consentForm(html, pageUrl) {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error("the Stripe consent page has no form");
  const unescape = (v) => v.replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  const fields = new URLSearchParams();
  for (const [, tag] of form[2].matchAll(/(<input[^>]*>)/gi)) {
    const name = /name="([^"]*)"/i.exec(tag)?.[1];
    if (name) fields.set(unescape(name), unescape(/value="([^"]*)"/i.exec(tag)?.[1] ?? ""));
  }
  const connect = /<button[^>]*name="([^"]*)"[^>]*value="([^"]*)"[^>]*>\s*Connect\s*</i.exec(form[2]);
  if (!connect) throw new Error("the Stripe consent page has no Connect button");
  fields.set(connect[1], connect[2]);
  return { action: new URL(unescape(form[1]), pageUrl).toString(), fields };
}

/** Connects a sandbox Stripe account in test mode for the developer, unless one is connected. */
async function ensureStripe(call) {
  const connections = (await call("GET", "/v1/stripe/connections")).body.data;
  if (connections.some((c) => c.mode === "test" && c.status === "connected")) return;
  const start = await call("GET", "/authorize?mode=test", { headers: { Accept: "application/json" } });
  const cookie = start.headers.getSetCookie().map((line) => line.split(";")[0]).join("; ");
  const consentUrl = start.body.data.url;
  const page = await fetch(consentUrl);
  const { action, fields } = consentForm(await page.text(), consentUrl);
  const decided = await fetch(action, { method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: fields.toString() });
  await decided.arrayBuffer();
  const back = decided.headers.get("location");
  if (!back) throw new Error(`the Stripe consent answered ${decided.status} without sending the browser back`);
  const done = await fetch(new URL(back, action), { headers: { Cookie: cookie }, redirect: "manual" });
  const answer = await done.text();
  const location = done.headers.get("location") ?? "";
  if (!(done.status === 200 || (done.status === 303 && location.includes("stripe=connected")))) {
    throw new Error(`the Connect callback answered ${done.status} ${location} ${answer.slice(0, 200)}`);
  }
}

/**
 * Makes the example's demo project as `developer` on the stack at `baseUrl` (development
 * issuer only): the project, a sandbox Stripe connection, and its tiers or products with
 * their files. Answers `{ projectId, publishableKey, secretKey }`.
 */
export async function seedExample(name, { baseUrl, developer = "demo-developer" }) {
  const spec = EXAMPLES[name];
  if (!spec) throw new Error(`no example named ${name}`);
  const signIn = await fetch(`${baseUrl}/dev/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sub: developer, email: `${developer}@example.test` }),
  });
  if (signIn.status !== 200) throw new Error(`${baseUrl}/dev/token answered ${signIn.status}: demo projects are made on local stacks only; set TOLLGATE_SECRET_KEY and TOLLGATE_PUBLISHABLE_KEY instead`);
  const call = developerApi(baseUrl, (await signIn.json()).data.token);
  await ensureStripe(call);
  const created = (await call("POST", "/v1/projects", { body: spec.project })).body.data;
  const id = created.project.id;
  for (const tier of spec.tiers ?? []) await call("POST", `/v1/projects/${id}/tiers`, { body: tier });
  for (const { color, file, ...product } of spec.products ?? []) {
    const upload = (bytes, filename, visibility) =>
      call("POST", `/v1/projects/${id}/assets?${new URLSearchParams({ filename, visibility })}`, { raw: bytes });
    const image = (await upload(stripedPng(color), `${product.name}.png`, "public")).body.data;
    const asset = (await upload(fileBytes({ file }), file.filename, "private")).body.data;
    await call("POST", `/v1/projects/${id}/products`, { body: { ...product, imageUrl: image.url, assetId: asset.id } });
  }
  return { projectId: id, publishableKey: created.project.publishableKey, secretKey: created.secretKey };
}

/** Whether a secret key still opens its project on the stack (a wiped state folder forgets it). */
async function keyWorks(baseUrl, secretKey) {
  const { Tollgate, InvalidApiKeyError } = await import("@tollgate/sdk");
  try {
    await new Tollgate({ secretKey, baseUrl, maxRetries: 0 }).project();
    return true;
  } catch (error) {
    if (error instanceof InvalidApiKeyError) return false;
    throw new Error(`Tollgate at ${baseUrl} did not answer (${error.message}): is \`npm start\` running?`);
  }
}

/**
 * The keys the example runs with: TOLLGATE_SECRET_KEY and TOLLGATE_PUBLISHABLE_KEY when set;
 * else the demo project made on an earlier run (kept in `<state>/examples.json`) while its key
 * still works; else a new demo project, kept there.
 */
export async function exampleKeys(name, { baseUrl, stateDir, env = process.env }) {
  if (env.TOLLGATE_SECRET_KEY || env.TOLLGATE_PUBLISHABLE_KEY) {
    if (!env.TOLLGATE_SECRET_KEY?.startsWith("sk_") || !env.TOLLGATE_PUBLISHABLE_KEY?.startsWith("pk_")) {
      throw new Error("set both TOLLGATE_SECRET_KEY (sk_…) and TOLLGATE_PUBLISHABLE_KEY (pk_…), or neither");
    }
    return { secretKey: env.TOLLGATE_SECRET_KEY, publishableKey: env.TOLLGATE_PUBLISHABLE_KEY, projectId: undefined, made: false };
  }
  const file = join(stateDir, "examples.json");
  const kept = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  if (kept[name] && (await keyWorks(baseUrl, kept[name].secretKey))) return { ...kept[name], made: false };
  const seeded = await seedExample(name, { baseUrl });
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(file, JSON.stringify({ ...kept, [name]: seeded }, null, 2), { mode: 0o600 });
  return { ...seeded, made: true };
}

const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
    const path = join(dir, entry.name);
    return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }, 0);

/** Builds @tollgate/sdk and @tollgate/react when their dist is missing or older than their sources. */
export async function ensureSdk() {
  const dists = [join(ROOT, "sdk", "dist", "index.js"), join(ROOT, "sdk", "react", "dist", "index.js")];
  const built = dists.every(existsSync) ? Math.min(...dists.map((f) => statSync(f).mtimeMs)) : 0;
  if (built > Math.max(newest(join(ROOT, "sdk", "src")), newest(join(ROOT, "sdk", "react", "src")))) return;
  process.stderr.write("[examples] building @tollgate/sdk and @tollgate/react\n");
  (await import("./sdk.mjs")).buildSdk();
}

/** Builds an app with its Vite config into `outDir` (default examples/<name>/dist); answers the folder. */
export async function buildExample(name, outDir = join(EXAMPLES_DIR, name, "dist")) {
  const { build } = await import("vite");
  const root = join(EXAMPLES_DIR, name);
  await build({ root, configFile: join(root, "vite.config.ts"), logLevel: "warn", build: { outDir, emptyOutDir: true } });
  return outDir;
}

/** Type-checks both apps (and the code they share) with tsc. */
export function checkExamples() {
  for (const name of Object.keys(EXAMPLES)) {
    execFileSync(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", join(EXAMPLES_DIR, name)], { cwd: ROOT, stdio: "inherit" });
  }
}

async function main() {
  const name = process.argv[2];
  if (name === "check") return checkExamples();
  if (!EXAMPLES[name]) {
    process.stderr.write("usage: node scripts/examples.mjs saas|store|check\n");
    process.exit(2);
  }
  const baseUrl = (process.env.TOLLGATE_URL ?? `http://127.0.0.1:${process.env.TOLLGATE_BASE_PORT ?? 8787}`).replace(/\/+$/, "");
  const stateDir = process.env.TOLLGATE_STATE ?? join(ROOT, ".wrangler", "state");
  const health = await fetch(`${baseUrl}/health`).catch(() => undefined);
  if (!health?.ok) throw new Error(`Tollgate at ${baseUrl} did not answer /health: start it with \`npm start\` (or set TOLLGATE_URL)`);
  await ensureSdk();
  const keys = await exampleKeys(name, { baseUrl, stateDir });
  process.stderr.write(`[examples] building examples/${name}\n`);
  const dist = await buildExample(name);
  const { startBackend } = await import("../examples/shared/backend.mjs");
  const app = await startBackend({ baseUrl, secretKey: keys.secretKey, publishableKey: keys.publishableKey, dist, port: Number(process.env.PORT ?? EXAMPLES[name].port) });
  const project = keys.projectId ? `project ${keys.projectId} (${EXAMPLES[name].project.name}${keys.made ? ", made now" : ""}; in the console as demo-developer)` : "the project of TOLLGATE_SECRET_KEY";
  console.log(`\nThe ${name} example: ${app.url}\n  against Tollgate at ${baseUrl}, ${project}\n\nPress Ctrl+C to stop.`);
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => app.close().then(() => process.exit(0)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    process.stderr.write(`[examples] ${error.message}\n`);
    process.exit(1);
  });
}
