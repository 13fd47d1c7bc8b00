// `npm start`: the whole platform on 127.0.0.1 — migrations applied to the local D1, all five
// workers up and healthy, state kept in .wrangler/state across restarts.
//
// Environment: TOLLGATE_STATE (state folder), TOLLGATE_BASE_PORT (first of five ports,
// default 8787).

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_PORTS, ROOT, WORKERS, startStack } from "./stack.mjs";

const persistDir = process.env.TOLLGATE_STATE ?? join(ROOT, ".wrangler", "state");
const base = Number(process.env.TOLLGATE_BASE_PORT ?? DEFAULT_PORTS.platform);
const ports = Object.fromEntries(WORKERS.map((worker, i) => [worker, base + i]));
// The platform serves the developer console; Stripe Connect's callback sends the browser back
// to it.
const consoleUrl = `http://127.0.0.1:${ports.platform}/console/`;

let stack;
try {
  stack = await startStack({ persistDir, ports, vars: { CONSOLE_URL: consoleUrl } });
} catch (err) {
  console.error(`Could not start the stack: ${err.message}`);
  console.error("Is another copy running, or a port in use? Set TOLLGATE_BASE_PORT to move all five.");
  process.exit(1);
}

// A demo developer and project, made once per state folder. Their keys are test keys of this
// local sandbox, kept beside the state so every start can print them.
async function demo() {
  const file = join(persistDir, "demo.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8"));
  const post = async (url, body, headers = {}) => {
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
    return (await res.json()).data;
  };
  const { token } = await post(`${stack.urls.platform}/dev/token`, { sub: "demo-developer", email: "demo@example.test" });
  const created = await post(`${stack.urls.platform}/v1/projects`, { name: "Demo", type: "saas" }, { Authorization: `Bearer ${token}` });
  const seeded = { projectId: created.project.id, publishableKey: created.project.publishableKey, secretKey: created.secretKey };
  writeFileSync(file, JSON.stringify(seeded, null, 2), { mode: 0o600 });
  return seeded;
}

const seeded = await demo();

const width = Math.max(...WORKERS.map((w) => w.length));
console.log(`\nDeveloper console: ${consoleUrl}  (sign in with any developer id, e.g. demo-developer)`);
console.log(`\nTollgate is running (state: ${persistDir})\n`);
for (const worker of WORKERS) console.log(`  ${worker.padEnd(width)}  ${stack.urls[worker]}`);
console.log(`
Demo project ${seeded.projectId} (test mode):
  publishable key  ${seeded.publishableKey}
  secret key       ${seeded.secretKey}

Try:
  curl ${stack.urls.api}/health
  curl -H "Authorization: Bearer ${seeded.secretKey}" ${stack.urls.api}/api/project

Sign in as a developer (development issuer) and list your projects:
  TOKEN=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"sub":"demo-developer"}' \\
    ${stack.urls.platform}/dev/token | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')
  curl -H "Authorization: Bearer $TOKEN" ${stack.urls.platform}/v1/projects

Sell through Stripe (the local sandbox plays Stripe):
  1. Open the console, sign in as demo-developer, open the Demo project's Catalog page and
     press "Connect Stripe (test)", then "Connect" on the sandbox's page.
  2. Add a free and a paid tier there, or with curl:
     curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{"name":"free","displayName":"Free","price":0,"limit":100}' ${stack.urls.catalog}/v1/projects/${seeded.projectId}/tiers
     curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{"name":"pro","displayName":"Pro","price":900,"limit":10000}' ${stack.urls.catalog}/v1/projects/${seeded.projectId}/tiers
  3. See them as a storefront does:
     curl -H "X-Publishable-Key: ${seeded.publishableKey}" ${stack.urls.api}/api/tiers

Press Ctrl+C to stop.
`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
    process.exit(0);
  });
}
