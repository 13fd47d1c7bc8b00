// scratch: metering decomposition (not committed)
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { startStack } from "./stack.mjs";
const dir = mkdtempSync(join(tmpdir(), "mb-"));
const stack = await startStack({ persistDir: dir, quiet: true, vars: { METER_FLUSH_MS: "5000" } });
async function call(worker, method, path, { headers = {}, body } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const res = await fetch(`${stack.urls[worker]}${path}`, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${worker} ${method} ${path}: ${res.status} ${text}`);
  const json = JSON.parse(text); return json.data ?? json;
}
const { token } = await call("platform", "POST", "/dev/token", { body: { sub: "mb", email: "mb@example.test" } });
const developer = { Authorization: `Bearer ${token}` };
const { project, secretKey } = await call("platform", "POST", "/v1/projects", { headers: developer, body: { name: "MB", type: "saas" } });
const db = await stack.d1();
await db.prepare("UPDATE projects SET rate_limit_secret = 1000000, rate_limit_publishable = 1000000 WHERE id = ?1").bind(project.id).run();
await call("catalog", "POST", `/v1/projects/${project.id}/tiers`, { headers: developer, body: { name: "free", displayName: "Free", price: 0, limit: "unlimited" } });
const server = { Authorization: `Bearer ${secretKey}` };
const metered = await call("api", "POST", "/api/customers", { headers: server, body: { email: "m@example.test" } });
const secs = Number(process.env.S ?? 5);
const routes = (process.env.R ?? "noop,data,usage").split(",");
const defs = {
  noop: { worker: "api", method: "GET", path: "/dev/noop" },
  project: { worker: "api", method: "GET", path: "/api/project", headers: server },
  data: { worker: "api", method: "POST", path: "/api/data", headers: { ...server, "X-User-Id": metered.id } },
  usage: { worker: "api", method: "GET", path: "/api/usage", headers: { ...server, "X-User-Id": metered.id } },
  meternoop: { worker: "meter", method: "GET", path: "/dev/noop" },
};
const out = [];
for (const r of routes) {
  const d = defs[r];
  const opts = { url: stack.urls[d.worker], requests: [{ method: d.method, path: d.path, headers: d.headers ?? {} }], connections: 16 };
  await autocannon({ ...opts, duration: 2 });
  const res = await autocannon({ ...opts, duration: secs });
  out.push([r, res.requests.average, res.latency.p50, res.latency.p99, res.non2xx]);
}
for (const [r, rps, p50, p99, bad] of out) console.log(r.padEnd(10), Math.round(rps), (rps / out[0][1]).toFixed(3), p50, p99, bad);
await stack.stop();
