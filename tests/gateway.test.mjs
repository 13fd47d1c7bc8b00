// The one origin: every public route of the contract answers the same through the gateway as
// from the worker that serves it (status, code and body, request id aside), the workers'
// internal routes are not reachable through it, and it answers its own /health. The deeper
// proof runs whole suites through it: `TOLLGATE_VIA_GATEWAY=1` (tests/support/stack.mjs) sends
// every call of a test file through the gateway, with the workers handing out its URL.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { PUBLIC_WORKERS, ROOT } from "../scripts/stack.mjs";
import { testStack } from "./support/stack.mjs";

const spec = parse(readFileSync(join(ROOT, "schemas", "openapi.yaml"), "utf8"));
const METHODS = ["get", "post", "put", "patch", "delete"];

/** Every operation of a Tollgate worker, with the worker that serves it and a concrete path. */
const operations = Object.entries(spec.paths).flatMap(([template, item]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, op]) => {
      const served = op.tags.filter((t) => PUBLIC_WORKERS.includes(t));
      // Routes every worker serves (the development no-op) are the platform's behind the gateway.
      const worker = served.length === 1 ? served[0] : "platform";
      const path = template.replace(/\{[^}]+\}/g, (name) => `x${name.slice(1, -1)}1`);
      return { method: method.toUpperCase(), template, path, worker, served };
    })
    // Health is the gateway's own, and the internal routes are refused (both tested below).
    .filter((o) => o.served.length > 0 && o.template !== "/health" && !o.template.startsWith("/dev/fail") && !o.template.startsWith("/internal/")),
);

let stack;
before(async () => {
  stack = await testStack();
});
after(() => stack?.stop());

async function send(origin, { method, path }) {
  const init = { method, redirect: "manual", headers: { "X-Request-Id": "req_gateway_check" } };
  if (method !== "GET" && method !== "DELETE") {
    init.body = "{}";
    init.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(`${origin}${path}`, init);
  const text = await res.text();
  return { status: res.status, location: res.headers.get("location"), type: res.headers.get("content-type"), text };
}

describe("the gateway", () => {
  test("the contract's routes are found, for every public worker", () => {
    const counts = Object.fromEntries(PUBLIC_WORKERS.map((w) => [w, operations.filter((o) => o.worker === w).length]));
    for (const worker of PUBLIC_WORKERS) assert.ok(counts[worker] >= 3, `${worker}: ${counts[worker]} operations`);
  });

  test("every public route answers through the one origin exactly as from its own worker", async () => {
    const differ = [];
    for (const op of operations) {
      const direct = await send(stack.direct[op.worker], op);
      const through = await send(stack.urls.gateway, op);
      // The console's configuration names the origin it was asked on as the platform's.
      through.text = through.text.replaceAll(stack.urls.gateway, stack.direct.platform);
      if (JSON.stringify(direct) !== JSON.stringify(through)) {
        differ.push(`${op.method} ${op.template} (${op.worker}): direct ${direct.status} ${direct.text.slice(0, 80)} / gateway ${through.status} ${through.text.slice(0, 80)}`);
      }
    }
    assert.ok(operations.length > 80, `only ${operations.length} operations`);
    assert.deepEqual(differ, []);
  });

  test("a browser's preflight passes through unchanged", async () => {
    const preflight = (origin) =>
      fetch(`${origin}/v1/projects/x/redirect-origins`, { method: "OPTIONS", headers: { Origin: "http://127.0.0.1:5173", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization,content-type" } });
    const [direct, through] = await Promise.all([preflight(stack.direct.platform), preflight(stack.urls.gateway)]);
    const headers = (res) => ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"].map((h) => res.headers.get(h));

    assert.equal(through.status, direct.status);
    assert.deepEqual(headers(through), headers(direct));
    assert.match(String(headers(through)[1]), /PUT/);
  });

  test("the workers' internal routes are not reachable through it", async () => {
    for (const path of ["/internal/reconcile", "/internal/keys/forget"]) {
      const res = await stack.call("gateway", "POST", path, { body: {} });
      assert.deepEqual([res.status, res.body.code], [404, "not_found"], path);
    }
  });

  test("it answers its own health, and tells which worker it is", async () => {
    const res = await fetch(`${stack.urls.gateway}/health`);
    const body = await res.json();

    assert.equal(res.status, 200);
    assert.deepEqual([body.status, body.worker], ["ok", "gateway"]);
    assert.ok(res.headers.get("x-request-id"));
  });
});
