// `npm start`: the whole platform on 127.0.0.1 — migrations applied to the local D1, all five
// workers up and healthy, state kept in .wrangler/state across restarts.
//
// Environment: TOLLGATE_STATE (state folder), TOLLGATE_BASE_PORT (first of five ports,
// default 8787).

import { join } from "node:path";
import { DEFAULT_PORTS, ROOT, WORKERS, startStack } from "./stack.mjs";

const persistDir = process.env.TOLLGATE_STATE ?? join(ROOT, ".wrangler", "state");
const base = Number(process.env.TOLLGATE_BASE_PORT ?? DEFAULT_PORTS.platform);
const ports = Object.fromEntries(WORKERS.map((worker, i) => [worker, base + i]));

let stack;
try {
  stack = await startStack({ persistDir, ports });
} catch (err) {
  console.error(`Could not start the stack: ${err.message}`);
  console.error("Is another copy running, or a port in use? Set TOLLGATE_BASE_PORT to move all five.");
  process.exit(1);
}

const width = Math.max(...WORKERS.map((w) => w.length));
console.log(`\nTollgate is running (state: ${persistDir})\n`);
for (const worker of WORKERS) console.log(`  ${worker.padEnd(width)}  ${stack.urls[worker]}`);
console.log(`\nTry: curl ${stack.urls.api}/health`);
console.log("Press Ctrl+C to stop.\n");

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
    process.exit(0);
  });
}
