// `npm start`: the whole platform on 127.0.0.1 — migrations applied to the local D1, all five
// workers up and healthy, state kept in .wrangler/state across restarts.
//
// Environment: TOLLGATE_STATE (state folder), TOLLGATE_BASE_PORT (the one origin's port, the
// workers' after it; default 8787). Everything runs as one origin: the URLs the workers hand
// out (issuer, links, Connect's callback) are the gateway's; each worker's own port still works.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_PORTS, GATEWAY, ROOT, WORKERS, startStack } from "./stack.mjs";

const persistDir = process.env.TOLLGATE_STATE ?? join(ROOT, ".wrangler", "state");
const base = Number(process.env.TOLLGATE_BASE_PORT ?? DEFAULT_PORTS[GATEWAY]);
const ports = Object.fromEntries([GATEWAY, ...WORKERS].map((worker, i) => [worker, base + i]));
// The platform serves the developer console on the one origin; Stripe Connect's callback
// sends the browser back to it.
const consoleUrl = `http://127.0.0.1:${ports[GATEWAY]}/console/`;

let stack;
try {
  // REQUEST_LOG: one line per request on the console (method, path, status, ms, request id).
  stack = await startStack({ persistDir, ports, oneOrigin: true, vars: { REQUEST_LOG: "1", CONSOLE_URL: consoleUrl } });
} catch (err) {
  console.error(`Could not start the stack: ${err.message}`);
  console.error("Is another copy running, or a port in use? Set TOLLGATE_BASE_PORT to move them all.");
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
  const { token } = await post(`${stack.urls[GATEWAY]}/dev/token`, { sub: "demo-developer", email: "demo@example.test" });
  const created = await post(`${stack.urls[GATEWAY]}/v1/projects`, { name: "Demo", type: "saas" }, { Authorization: `Bearer ${token}` });
  const seeded = { projectId: created.project.id, publishableKey: created.project.publishableKey, secretKey: created.secretKey };
  writeFileSync(file, JSON.stringify(seeded, null, 2), { mode: 0o600 });
  return seeded;
}

const seeded = await demo();

const width = Math.max(...WORKERS.map((w) => w.length));
const origin = stack.urls[GATEWAY];
console.log(`\nDeveloper console: ${consoleUrl}  (sign in with any developer id, e.g. demo-developer)`);
console.log(`\nTollgate is running at ${origin}  (one origin for every route; state: ${persistDir})\n`);
console.log("Each worker also answers on its own port:");
for (const worker of WORKERS) console.log(`  ${worker.padEnd(width)}  ${stack.urls[worker]}`);
console.log(`
Demo project ${seeded.projectId} (test mode):
  publishable key  ${seeded.publishableKey}
  secret key       ${seeded.secretKey}

Try:
  curl ${origin}/health
  curl -H "Authorization: Bearer ${seeded.secretKey}" ${origin}/api/project

Sign in as a developer (development issuer) and list your projects:
  TOKEN=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"sub":"demo-developer"}' \\
    ${origin}/dev/token | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')
  curl -H "Authorization: Bearer $TOKEN" ${origin}/v1/projects

Sell through Stripe (the local sandbox plays Stripe):
  1. Open the console, sign in as demo-developer, open the Demo project's Catalog page and
     press "Connect Stripe (test)", then "Connect" on the sandbox's page.
  2. Add a free and a paid tier there, or with curl:
     curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{"name":"free","displayName":"Free","price":0,"limit":100}' ${origin}/v1/projects/${seeded.projectId}/tiers
     curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{"name":"pro","displayName":"Pro","price":900,"limit":10000}' ${origin}/v1/projects/${seeded.projectId}/tiers
  3. See them as a storefront does:
     curl -H "X-Publishable-Key: ${seeded.publishableKey}" ${origin}/api/tiers

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
