// Resilience: the platform keeps its word when the runtime does not. A restart in the middle of
// a metering burst loses nothing and counts nothing twice; a worker that cannot reach D1
// answers 503 `storage_unavailable` at once instead of hanging or leaking a stack; bodies over
// a route's limit get 413 and change nothing, whether or not they declare their length, and a
// body that never ends is refused while it is still arriving.

import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { WORKERS, devSecrets, freePorts } from "../scripts/stack.mjs";
import { checkResponse } from "./support/contract.mjs";
import { createProject, signIn, uploadAsset } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");

/** A metered call that never throws: `{ status }`, or `{ status: 0 }` when the connection failed. */
async function meter(url, secretKey, userId, idempotencyKey) {
  try {
    const res = await fetch(`${url}/api/data`, {
      method: "POST",
      headers: { Authorization: `Bearer ${secretKey}`, "X-User-Id": userId, "Idempotency-Key": idempotencyKey },
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    return { status: res.status };
  } catch {
    return { status: 0 };
  }
}

describe("a restart in the middle of the run", () => {
  test("loses no acknowledged call, and retries with their Idempotency-Keys count each call exactly once", async () => {
    // Arrange: a project with an unlimited free tier, an end user, and pinned ports so the
    // restarted stack answers on the same URLs.
    const dir = mkdtempSync(join(tmpdir(), "tollgate-resilience-"));
    const free = await freePorts(WORKERS.length);
    const ports = Object.fromEntries(WORKERS.map((w, i) => [w, free[i]]));
    let stack = await testStack({ persistDir: dir, ports });
    try {
      const dev = await signIn(stack, "resilience");
      const { project, secretKey } = await createProject(dev, { name: "Resilience" });
      await (await stack.d1())
        .prepare("INSERT INTO tiers (id, project_id, name, display_name, price, usage_limit, is_default, created_at, updated_at) VALUES ('tier_res', ?1, 'free', 'Free', 0, NULL, 1, 0, 0)")
        .bind(project.id)
        .run();
      const created = await stack.call("api", "POST", "/api/customers", {
        headers: { Authorization: `Bearer ${secretKey}` },
        body: { email: "restart@example.test" },
      });
      assert.equal(created.status, 201, created.text);
      const userId = created.body.data.id;
      const image = await uploadAsset(stack, { secretKey }, PNG, { filename: "logo.png", visibility: "public" });
      const calls = Array.from({ length: 120 }, () => randomUUID());

      // Act: eight clients meter one call after another; once 40 calls are acknowledged, the
      // stack stops under them and comes back on the same state folder and ports.
      const outcome = new Map();
      let next = 0;
      const client = async () => {
        while (next < calls.length) {
          const key = calls[next++];
          outcome.set(key, (await meter(stack.urls.api, secretKey, userId, key)).status);
        }
      };
      const clients = Array.from({ length: 8 }, client);
      while ([...outcome.values()].filter((s) => s === 200).length < 40) await new Promise((r) => setTimeout(r, 5));
      await stack.stop();
      stack = await testStack({ persistDir: dir, ports });
      await Promise.all(clients);
      const acknowledged = calls.filter((key) => outcome.get(key) === 200).length;
      const usageBeforeRetries = (
        await stack.call("api", "GET", "/api/usage", { headers: { Authorization: `Bearer ${secretKey}`, "X-User-Id": userId } })
      ).body.usageCount;
      // A call cut off after claiming its key left the claim in flight: a retry inside the
      // claim's lease gets 409, and one after it (two minutes, aged here in the table rather
      // than waited for) runs. A call cut off after counting but before answering marked its
      // claim `counted` in the counting batch: it keeps answering 409 and is never counted again.
      const retried = new Map();
      for (const key of calls.filter((k) => outcome.get(k) !== 200)) {
        retried.set(key, (await meter(stack.urls.api, secretKey, userId, key)).status);
      }
      const held = [...retried].filter(([, status]) => status === 409).map(([key]) => key);
      await (await stack.d1())
        .prepare("UPDATE idempotency_keys SET created_at = created_at - 120000 WHERE scope = ?1 AND status = 'in_flight'")
        .bind(`${project.id}:${userId}`)
        .run();
      for (const key of held) retried.set(key, (await meter(stack.urls.api, secretKey, userId, key)).status);
      const claims = new Map(
        (
          await (await stack.d1())
            .prepare("SELECT key, status FROM idempotency_keys WHERE scope = ?1")
            .bind(`${project.id}:${userId}`)
            .all()
        ).results.map((row) => [row.key, row.status]),
      );
      for (const key of calls.slice(0, 5)) {
        assert.equal((await meter(stack.urls.api, secretKey, userId, key)).status, 200, "a replay answers the first answer");
      }
      const usage = await stack.call("api", "GET", "/api/usage", { headers: { Authorization: `Bearer ${secretKey}`, "X-User-Id": userId } });
      const token = await stack.call("platform", "GET", `/v1/projects/${project.id}`, { headers: { Authorization: `Bearer ${dev.token}` } });
      const served = await fetch(image.url);
      const bytes = Buffer.from(await served.arrayBuffer());

      // Assert
      assert.ok(acknowledged < calls.length, "the restart really interrupted the run");
      for (const [key, status] of retried) {
        assert.ok(status === 200 || (status === 409 && claims.get(key) === "counted"), `a retry is served, or refused because its call was counted (${status}, ${claims.get(key)})`);
      }
      assert.ok(usageBeforeRetries >= acknowledged, `${usageBeforeRetries} counted, ${acknowledged} acknowledged before the restart`);
      assert.equal(usage.body.usageCount, calls.length, "every call counted exactly once");
      assert.equal(token.status, 200, "a developer token and the project outlive the restart");
      assert.equal(served.status, 200, "the R2 object outlives the restart");
      assert.deepEqual(bytes, PNG);
    } finally {
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a worker that cannot reach D1", () => {
  test("answers 503 storage_unavailable with Retry-After on every worker, at once, and logs the cause without returning it", async () => {
    // Arrange: a developer, a project and its keys; then the same stack comes back with every
    // worker's DB binding failing as a lost connection does.
    const dir = mkdtempSync(join(tmpdir(), "tollgate-outage-"));
    const free = await freePorts(WORKERS.length);
    const ports = Object.fromEntries(WORKERS.map((w, i) => [w, free[i]]));
    let stack = await testStack({ persistDir: dir, ports });
    const dev = await signIn(stack, "outage");
    const { project, secretKey } = await createProject(dev, { name: "Outage" });
    await stack.stop();
    stack = await testStack({ persistDir: dir, ports, d1Outage: true });
    try {
      const developer = { Authorization: `Bearer ${dev.token}` };
      const server = { Authorization: `Bearer ${secretKey}` };
      const secret = devSecrets(dir).STRIPE_WEBHOOK_SECRET;
      const event = JSON.stringify({ id: "evt_outage", object: "event", type: "customer.created", created: 1, livemode: false, data: { object: { id: "cus_1" } } });
      const at = Math.floor(Date.now() / 1000);
      const signature = `t=${at},v1=${createHmac("sha256", secret).update(`${at}.${event}`).digest("hex")}`;
      const cases = [
        ["platform", "GET", "/v1/projects", { headers: developer }],
        ["platform", "POST", "/v1/projects", { headers: developer, body: { name: "Down", type: "saas" } }],
        ["catalog", "GET", `/v1/projects/${project.id}/tiers`, { headers: developer }],
        ["api", "GET", "/api/customers", { headers: server }],
        ["api", "POST", "/api/customers", { headers: server, body: { email: "down@example.test" } }],
        ["webhooks", "GET", `/v1/projects/${project.id}/webhook-endpoints`, { headers: developer }],
        ["webhooks", "POST", "/webhook/stripe", { headers: { "Stripe-Signature": signature }, body: event }],
      ];

      for (const [worker, method, path, options] of cases) {
        // Act
        const started = Date.now();
        const res = await stack.call(worker, method, path, options);

        // Assert
        const where = `${worker} ${method} ${path}`;
        assert.equal(res.status, 503, `${where}: ${res.text}`);
        assert.equal(res.body.code, "storage_unavailable", where);
        assert.equal(res.headers.get("retry-after"), "1", where);
        assert.ok(Date.now() - started < 5_000, `${where} answered at once`);
        assert.doesNotMatch(res.text, /Network connection lost|D1_ERROR|SELECT|INSERT/, `${where} returns no cause`);
        assert.ok(await stack.waitForLog(res.body.requestId, "storage_unavailable", "Network connection lost"), `${where} logs the cause`);
      }
      for (const worker of ["platform", "catalog", "api", "webhooks"]) {
        const health = await stack.call(worker, "GET", "/health");
        assert.equal(health.status, 503, `${worker} /health reports the outage`);
        assert.equal(health.body.checks.d1, "error", worker);
      }
    } finally {
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bodies over the limit", () => {
  test("get 413 payload_too_large on every worker and change nothing, with or without Content-Length", async () => {
    // Arrange
    const stack = await testStack();
    try {
      const dev = await signIn(stack, "big-bodies");
      const { project, secretKey } = await createProject(dev, { name: "Big bodies" });
      const developer = { Authorization: `Bearer ${dev.token}` };
      const pad = (bytes) => "x".repeat(bytes);
      const cases = [
        ["platform", "POST", "/v1/projects", developer, { name: "Big", type: "saas", pad: pad(17 * 1024) }],
        ["catalog", "POST", `/v1/projects/${project.id}/tiers`, developer, { name: "big", pad: pad(17 * 1024) }],
        ["api", "POST", "/api/customers", { Authorization: `Bearer ${secretKey}` }, { email: "big@example.test", pad: pad(17 * 1024) }],
        ["webhooks", "POST", `/v1/projects/${project.id}/webhook-endpoints`, developer, { url: "https://example.test/hook", pad: pad(17 * 1024) }],
        ["webhooks", "POST", "/webhook/stripe", { "Stripe-Signature": "t=1,v1=00" }, { id: "evt_big", pad: pad(300 * 1024) }],
      ];
      const db = await stack.d1();
      const counts = () =>
        db
          .prepare(
            "SELECT (SELECT COUNT(*) FROM projects) AS projects, (SELECT COUNT(*) FROM tiers) AS tiers, (SELECT COUNT(*) FROM end_users) AS endUsers, " +
              "(SELECT COUNT(*) FROM webhook_endpoints) AS endpoints, (SELECT COUNT(*) FROM stripe_events) AS events",
          )
          .first();
      const before = await counts();

      for (const [worker, method, path, headers, body] of cases) {
        for (const declared of [true, false]) {
          // Act: the same bytes, once with Content-Length and once streamed in chunks.
          const text = JSON.stringify(body);
          const init = { method, headers: { ...headers, "Content-Type": "application/json" } };
          if (declared) {
            init.body = text;
          } else {
            init.body = new Blob([text]).stream();
            init.duplex = "half";
          }
          const res = await fetch(`${stack.urls[worker]}${path}`, init);
          const reply = await res.text();

          // Assert
          const where = `${worker} ${method} ${path} (${declared ? "declared" : "chunked"})`;
          checkResponse({ worker, method, path, status: res.status, headers: res.headers, body: JSON.parse(reply), text: reply });
          assert.equal(res.status, 413, `${where}: ${reply}`);
          assert.equal(JSON.parse(reply).code, "payload_too_large", where);
        }
      }
      assert.deepEqual(await counts(), before, "nothing was written");
    } finally {
      await stack.stop();
    }
  });

  test("a chunked body that never ends gets 413 while the client is still sending", async () => {
    // Arrange: a client that streams a JSON body without Content-Length, 64 KiB every 10 ms,
    // and never ends it; it stops only when the answer arrives, or after 64 MiB.
    const stack = await testStack();
    // A bare socket, so the answer is read even once the server stops reading and the
    // client's writes fail.
    const endless = (url, path, headers) =>
      new Promise((resolve, reject) => {
        const { hostname, port } = new URL(url);
        const socket = connect(Number(port), hostname);
        let sent = 0;
        let sentWhenAnswered;
        let reply = "";
        const chunk = Buffer.alloc(64 * 1024, "x");
        const frame = (bytes) => Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from("\r\n")]);
        socket.on("error", () => {}); // writes after the server closed: expected
        socket.setEncoding("utf8");
        socket.on("data", (part) => {
          sentWhenAnswered ??= sent;
          reply += part;
        });
        socket.on("close", () => {
          if (sentWhenAnswered === undefined) return reject(new Error(`no answer after ${sent} bytes`));
          const [head, body] = reply.split("\r\n\r\n");
          const [statusLine, ...lines] = head.split("\r\n");
          const headers = new Headers(lines.map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()]));
          const text = headers.get("transfer-encoding") === "chunked" ? body.split("\r\n").filter((_, i) => i % 2 === 1).join("") : body;
          resolve({ status: Number(statusLine.split(" ")[1]), headers, text, sentWhenAnswered });
        });
        socket.on("connect", () => {
          const head = Object.entries({ ...headers, Host: `${hostname}:${port}`, "Content-Type": "application/json", "Transfer-Encoding": "chunked", Connection: "close" })
            .map(([name, value]) => `${name}: ${value}\r\n`)
            .join("");
          socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
          socket.write(frame(Buffer.from('{"pad":"')));
          const pump = () => {
            if (sentWhenAnswered !== undefined || socket.destroyed) return;
            if (sent >= 64 * 1024 * 1024) {
              socket.destroy();
              return;
            }
            socket.write(frame(chunk));
            sent += chunk.length;
            setTimeout(pump, 10);
          };
          pump();
        });
        setTimeout(() => socket.destroy(), 30_000);
      });
    try {
      const dev = await signIn(stack, "endless-bodies");
      const { secretKey } = await createProject(dev, { name: "Endless bodies" });
      const cases = [
        ["api", "/api/customers", { Authorization: `Bearer ${secretKey}` }, 16 * 1024],
        ["platform", "/v1/projects", { Authorization: `Bearer ${dev.token}` }, 16 * 1024],
        ["webhooks", "/webhook/stripe", { "Stripe-Signature": "t=1,v1=00" }, 256 * 1024],
      ];
      const db = await stack.d1();
      const counts = () =>
        db.prepare("SELECT (SELECT COUNT(*) FROM end_users) AS endUsers, (SELECT COUNT(*) FROM projects) AS projects, (SELECT COUNT(*) FROM stripe_events) AS events").first();
      const before = await counts();

      for (const [worker, path, headers, limit] of cases) {
        // Act
        const res = await endless(stack.urls[worker], path, headers);

        // Assert
        const where = `${worker} POST ${path}`;
        checkResponse({ worker, method: "POST", path, status: res.status, headers: res.headers, body: JSON.parse(res.text), text: res.text });
        assert.equal(res.status, 413, `${where}: ${res.text}`);
        assert.equal(JSON.parse(res.text).code, "payload_too_large", where);
        assert.ok(res.sentWhenAnswered < limit + 1024 * 1024, `${where} answered after ${res.sentWhenAnswered} bytes, near its ${limit}-byte limit`);
      }
      assert.deepEqual(await counts(), before, "nothing was written");
    } finally {
      await stack.stop();
    }
  });
});
