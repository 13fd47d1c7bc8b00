// The foundation every worker stands on: health, the error shape for unknown routes and
// wrong methods, request ids, and failures that stay opaque — on every worker, over HTTP,
// against the real local runtime with real local D1, KV and R2.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { ROOT, WORKERS } from "../scripts/stack.mjs";
import { testStack } from "./support/stack.mjs";

const VERSION = readFileSync(`${ROOT}/Cargo.toml`, "utf8").match(/^version = "([^"]+)"/m)[1];
const GENERATED_ID = /^req_[0-9A-Za-z]{22}$/;

describe("a development stack", () => {
  let stack;
  before(async () => {
    stack = await testStack();
  });
  after(() => stack?.stop());

  test("every worker reports itself healthy with its name and crate version", async () => {
    for (const worker of WORKERS) {
      const res = await stack.call(worker, "GET", "/health");

      assert.equal(res.status, 200, worker);
      assert.equal(res.body.status, "ok", worker);
      assert.equal(res.body.worker, worker);
      assert.equal(res.body.version, VERSION, worker);
    }
  });

  test("the health of every worker on the shared storage says that D1, KV and R2 answer", async () => {
    // The meter worker's objects use D1 on their own (tests/meter.test.mjs); the worker
    // itself binds no KV or R2, so it reports no storage checks, as the sandbox does.
    for (const worker of WORKERS.filter((w) => w !== "stripe-sandbox" && w !== "meter")) {
      const res = await stack.call(worker, "GET", "/health");

      assert.deepEqual(res.body.checks, { d1: "ok", kv: "ok", r2: "ok" }, worker);
    }
    assert.equal((await stack.call("meter", "GET", "/health")).body.checks, undefined);
  });

  test("the Stripe sandbox, which keeps no shared storage, reports no storage checks", async () => {
    const res = await stack.call("stripe-sandbox", "GET", "/health");

    assert.equal(res.body.checks, undefined);
  });

  test("unknown routes answer 404 in the error shape on every worker", async () => {
    const paths = ["/", "/nope", "/health/", "/healthz", "/HEALTH", "/health%20", "/dev", "/dev/fail/other"];
    for (const worker of WORKERS) {
      // The platform's root opens the console (tests/console-auth.test.mjs).
      for (const path of paths.filter((p) => worker !== "platform" || p !== "/")) {
        const res = await stack.call(worker, "GET", path);

        assert.equal(res.status, 404, `${worker} ${path}`);
        assert.equal(res.body.code, "not_found", `${worker} ${path}`);
        assert.equal(res.body.requestId, res.headers.get("x-request-id"), `${worker} ${path}`);
      }
    }
  });

  test("a path another worker serves answers 404 naming that worker", async () => {
    const cases = [
      ["platform", "GET", "/api/tiers", "api"],
      ["platform", "GET", "/v1/projects/prj_x/tiers", "catalog"],
      ["platform", "GET", "/v1/projects/prj_x/webhook-endpoints", "webhooks"],
      ["api", "GET", "/v1/projects", "platform"],
      ["catalog", "POST", "/webhook/stripe", "webhooks"],
      ["webhooks", "GET", "/api/usage", "api"],
    ];
    for (const [worker, method, path, serves] of cases) {
      const res = await stack.call(worker, method, path);

      assert.deepEqual([res.status, res.body.code], [404, "not_found"], `${worker} ${path}`);
      assert.match(res.body.error, new RegExp(`the ${serves} worker serves this path`), `${worker} ${path}`);
    }
    const unknown = await stack.call("catalog", "GET", "/nope");
    assert.equal(unknown.body.error, "No such resource or route.", "an unknown path is claimed for no one");
  });

  test("a served path asked with another method answers 405 with the allowed methods", async () => {
    for (const worker of WORKERS) {
      for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]) {
        const res = await stack.call(worker, method, "/health");

        assert.equal(res.status, 405, `${worker} ${method}`);
        assert.equal(res.body.code, "method_not_allowed", `${worker} ${method}`);
        assert.equal(res.headers.get("allow"), "GET, HEAD", `${worker} ${method}`);
      }
    }
  });

  test("an unknown method on an unknown path is still a 404", async () => {
    const res = await stack.call("platform", "PROPFIND", "/nowhere");

    assert.equal(res.status, 404);
    assert.equal(res.body.code, "not_found");
  });

  test("HEAD is answered like GET, without a body", async () => {
    for (const worker of WORKERS) {
      const res = await stack.call(worker, "HEAD", "/health");

      assert.equal(res.status, 200, worker);
      assert.equal(res.text, "", worker);
    }
  });

  test("a well-formed incoming request id is echoed in the header and in errors", async () => {
    const ids = ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:a.b_c", "x".repeat(128)];
    for (const id of ids) {
      const ok = await stack.call("api", "GET", "/health", { headers: { "X-Request-Id": id } });
      const missing = await stack.call("catalog", "GET", "/missing", { headers: { "X-Request-Id": id } });

      assert.equal(ok.headers.get("x-request-id"), id);
      assert.equal(missing.headers.get("x-request-id"), id);
      assert.equal(missing.body.requestId, id);
    }
  });

  test("a malformed incoming request id is replaced by a generated one", async () => {
    const malformed = ["", "has space", "<script>", "x".repeat(129), "semi;colon", "ünï"];
    for (const id of malformed) {
      const res = await stack.call("webhooks", "GET", "/missing", { headers: { "X-Request-Id": id } });

      const echoed = res.headers.get("x-request-id");
      assert.match(echoed, GENERATED_ID, JSON.stringify(id));
      assert.equal(res.body.requestId, echoed);
    }
  });

  test("without an incoming id each response gets its own generated id", async () => {
    const first = await stack.call("platform", "GET", "/health");
    const second = await stack.call("platform", "GET", "/health");

    assert.match(first.headers.get("x-request-id"), GENERATED_ID);
    assert.match(second.headers.get("x-request-id"), GENERATED_ID);
    assert.notEqual(first.headers.get("x-request-id"), second.headers.get("x-request-id"));
  });

  test("every answer is marked no-store and nosniff", async () => {
    for (const path of ["/health", "/missing"]) {
      const res = await stack.call("api", "GET", path);

      assert.equal(res.headers.get("cache-control"), "no-store", path);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    }
  });

  test("an internal error answers an opaque 500 and logs its cause under the request id", async () => {
    for (const worker of WORKERS) {
      const id = `fail-error-${worker}`;

      const res = await stack.call(worker, "GET", "/dev/fail/error", { headers: { "X-Request-Id": id } });

      assert.equal(res.status, 500, worker);
      assert.equal(res.body.code, "internal_error", worker);
      assert.equal(res.body.requestId, id, worker);
      assert.doesNotMatch(res.body.error, /deliberate|dev\/fail/, "the cause must not leak into the body");
      assert.ok(await stack.waitForLog(`"requestId":"${id}"`, "deliberate failure"), `${worker}: cause not logged`);
    }
  });

  test("a panic answers the same opaque 500, is logged, and the worker keeps serving", async () => {
    for (const worker of WORKERS) {
      const id = `fail-panic-${worker}`;

      const res = await stack.call(worker, "GET", "/dev/fail/panic", { headers: { "X-Request-Id": id } });
      const next = await stack.call(worker, "GET", "/health");

      assert.equal(res.status, 500, worker);
      assert.deepEqual(Object.keys(res.body).sort(), ["code", "error", "requestId"]);
      assert.equal(res.body.code, "internal_error", worker);
      assert.equal(res.body.requestId, id, worker);
      assert.doesNotMatch(res.body.error, /panic|deliberate|serve\.rs/i, "the cause must not leak into the body");
      assert.ok(await stack.waitForLog(`"requestId":"${id}"`, "deliberate panic"), `${worker}: panic not logged`);
      assert.equal(next.status, 200, `${worker} must recover after a panic`);
    }
  });

  test("a panic with a malformed request id still answers with a generated one", async () => {
    const res = await stack.call("api", "GET", "/dev/fail/panic", { headers: { "X-Request-Id": "bad id" } });

    assert.equal(res.status, 500);
    assert.match(res.body.requestId, /^req_[0-9a-f]{32}$/);
    assert.equal(res.headers.get("x-request-id"), res.body.requestId);
  });

  test("the schema of migration 0001 is in place in the shared database", async () => {
    const tables = await stack
      .d1()
      .then((db) => db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all());

    const names = tables.results.map((row) => row.name);
    for (const table of [
      "api_keys",
      "assets",
      "audit_events",
      "checkout_sessions",
      "end_users",
      "entitlements",
      "idempotency_keys",
      "inventory_reservations",
      "orders",
      "platforms",
      "products",
      "projects",
      "stripe_connections",
      "stripe_events",
      "subscriptions",
      "tiers",
      "usage_counters",
    ]) {
      assert.ok(names.includes(table), `missing table ${table}`);
    }
  });
});

describe("a production-configured stack", () => {
  let stack;
  before(async () => {
    stack = await testStack({ vars: { ENVIRONMENT: "production" } });
  });
  after(() => stack?.stop());

  test("development-only failure routes do not exist", async () => {
    for (const worker of WORKERS) {
      for (const kind of ["error", "panic"]) {
        const res = await stack.call(worker, "GET", `/dev/fail/${kind}`);

        assert.equal(res.status, 404, `${worker} ${kind}`);
        assert.equal(res.body.code, "not_found");
      }
    }
  });
});

describe("a local run's request log (npm start sets REQUEST_LOG=1)", () => {
  let stack;
  before(async () => {
    stack = await testStack({ vars: { REQUEST_LOG: "1" } });
  });
  after(() => stack?.stop());

  test("prints one line per request: method, path, status, time, request id and worker, and never a token in the path", async () => {
    const token = "t".repeat(60);

    await stack.call("api", "GET", "/api/project", { headers: { "X-Request-Id": "req_logline1" } });
    await stack.call("api", "GET", `/api/downloads/${token}`, { headers: { "X-Request-Id": "req_logline2" } });
    await stack.call("platform", "GET", "/v1/projects", { headers: { "X-Request-Id": "req_logline3" } });

    const line = async (id) => (await stack.waitForLog(id))?.message ?? "";
    assert.match(await line("req_logline1"), /^GET \/api\/project 401 \d+ms req_logline1 \(api\)$/);
    assert.match(await line("req_logline2"), /^GET \/api\/downloads\/… \d{3} \d+ms req_logline2 \(api\)$/);
    assert.ok(stack.logs.every((entry) => !entry.message.includes(token)), "the token never reaches the log");
    assert.match(await line("req_logline3"), /^GET \/v1\/projects 401 \d+ms req_logline3 \(platform\)$/);
  });

  test("stays silent where REQUEST_LOG is not set (the tests and the bench)", async () => {
    const quiet = await testStack();
    try {
      await quiet.call("api", "GET", "/api/project", { headers: { "X-Request-Id": "req_silent1" } });
      assert.equal(await quiet.waitForLog("req_silent1"), undefined);
    } finally {
      await quiet.stop();
    }
  });
});
