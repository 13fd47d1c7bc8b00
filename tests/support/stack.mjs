// Test fixture: the whole local stack on free ports with a throw-away state folder, plus an
// HTTP client whose every response is checked against the contract.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PUBLIC_WORKERS, startStack } from "../../scripts/stack.mjs";
import { checkResponse } from "./contract.mjs";

/** The pids of workerd processes this test process started and that still run. */
export function workerdChildren() {
  try {
    const out = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" });
    return out.split("\n").filter((line) => line.includes("workerd")).map((line) => Number(line.trim().split(/\s+/)[0]));
  } catch {
    return []; // ps exits 1 when there are no children
  }
}

/**
 * Whether this run goes through the one origin: with `TOLLGATE_VIA_GATEWAY=1`, every test
 * reaches the four Tollgate workers through the gateway (`stack.urls.platform` and the others
 * are its URL, and so are the URLs the workers hand out), each answer still checked against
 * the contract as the worker that served it.
 */
export const VIA_GATEWAY = process.env.TOLLGATE_VIA_GATEWAY === "1";

/**
 * Starts a stack. `persistDir` reuses a state folder (for restart tests); otherwise a fresh
 * temporary one is made and removed by `stop()`. `ports` pins workers' ports (a restart keeps
 * its URLs); `d1Outage` makes D1 unreachable for every worker (see scripts/stack.mjs).
 */
export async function testStack({ vars = {}, workerVars = {}, persistDir, ports, d1Outage = false } = {}) {
  const owned = !persistDir;
  const dir = persistDir ?? mkdtempSync(join(tmpdir(), "tollgate-test-"));
  const started = await startStack({ persistDir: dir, vars, workerVars, ports, d1Outage, quiet: true, oneOrigin: VIA_GATEWAY });
  const direct = started.urls;
  const urls = VIA_GATEWAY ? { ...direct, ...Object.fromEntries(PUBLIC_WORKERS.map((w) => [w, direct.gateway])) } : direct;
  const stack = { ...started, urls, direct };

  /**
   * Flushes every metering object of a project to D1 now (the meter worker's development
   * control), so a test reads the dashboards' ledger without waiting out the flush bound.
   */
  async function settleMeters(projectId) {
    const db = await started.d1();
    const { results } = await db.prepare("SELECT id FROM end_users WHERE project_id = ?1").bind(projectId).all();
    for (const { id } of results) {
      for (let attempt = 0; ; attempt += 1) {
        const res = await fetch(`${direct.meter}/dev/meter/flush`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ projectId, endUserId: id }),
        });
        const answer = await res.json();
        if (res.status !== 200) throw new Error(`flush ${id}: ${res.status} ${JSON.stringify(answer)}`);
        if (!answer.pending) break;
        if (attempt > 100) throw new Error(`flush ${id}: still pending`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  async function call(worker, method, path, { headers = {}, body, redirect = "follow" } = {}) {
    const init = { method, headers: { ...headers }, redirect };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      init.headers["Content-Type"] ??= "application/json";
    }
    const res = await fetch(`${stack.urls[worker]}${path}`, init);
    const text = await res.text();
    let json;
    try {
      const stream = res.headers.get("content-type")?.startsWith("text/event-stream");
      json = text && !stream ? JSON.parse(text) : undefined;
    } catch {
      throw new Error(`${worker} ${method} ${path} → ${res.status}: body is not JSON: ${text.slice(0, 200)}`);
    }
    checkResponse({ worker, method, path, status: res.status, headers: res.headers, body: json, text });
    return { status: res.status, headers: res.headers, body: json, text };
  }

  return {
    ...stack,
    dir,
    call,
    settleMeters,
    /** Log entries whose message mentions `needle`. */
    logsMentioning: (needle) => stack.logs.filter((entry) => entry.message.includes(needle)),
    /**
     * Waits (up to 2 s) for a log entry mentioning every needle: workerd delivers logs to
     * this process asynchronously, after the response.
     */
    async waitForLog(...needles) {
      const deadline = Date.now() + 2_000;
      for (;;) {
        const found = stack.logs.find((entry) => needles.every((n) => entry.message.includes(n)));
        if (found || Date.now() > deadline) return found;
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      await stack.stop();
      if (owned) rmSync(dir, { recursive: true, force: true });
    },
  };
}
