// Outbound webhooks to developers: endpoints (secret shown once, URL rules, tenancy), events
// delivered signed per Standard Webhooks to a receiver on 127.0.0.1, at-least-once delivery
// with a stable id across retries, the 24 h window, thresholds that fire once per period,
// Stripe-driven events, resends, disabled endpoints and the sweep.
//
// The stack runs with WEBHOOK_RETRY_BASE_SECONDS=1, so retries come after 1 s, 2 s, 4 s…

import assert from "node:assert/strict";
import { createCipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { devSecrets } from "../scripts/stack.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { startReceiver } from "./support/sandbox.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

let stack;
let receiver;
let counter = 0;

before(async () => {
  receiver = await startReceiver();
  stack = await testStack({ vars: { WEBHOOK_RETRY_BASE_SECONDS: "1" } });
});
after(async () => {
  await stack?.stop();
  await receiver?.close();
});

const db = () => stack.d1();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns something truthy (or fails after `ms`). */
async function eventually(check, ms = 15_000, what = "condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Requests the receiver got at `path`, once there are at least `n`. */
const received = (path, n = 1, ms) => eventually(() => receiver.at(path).length >= n && receiver.at(path), ms, `${n} request(s) at ${path}`);

/**
 * Verifies a request the Standard Webhooks way, in Node: HMAC-SHA256 keyed with the base64
 * after `whsec_`, over `{webhook-id}.{webhook-timestamp}.{body}`, any `v1,` entry matching.
 */
function verified(request, secret) {
  const id = request.headers["webhook-id"];
  const timestamp = request.headers["webhook-timestamp"];
  const header = request.headers["webhook-signature"];
  if (!id || !timestamp || !header) return false;
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${request.body}`).digest();
  return header.split(" ").some((entry) => {
    const [version, signature] = entry.split(",");
    const given = Buffer.from(signature ?? "", "base64");
    return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** A signed-in developer with a project, and calls on the webhooks and api workers. */
async function developer(sub, project = {}) {
  const dev = await signIn(stack, sub);
  const created = await createProject(dev, { name: sub, type: "saas", ...project });
  const hooks = (method, path, options = {}) =>
    stack.call("webhooks", method, path, { ...options, headers: { Authorization: `Bearer ${dev.token}`, ...(options.headers ?? {}) } });
  const server = (method, path, options = {}) =>
    stack.call("api", method, path, { ...options, headers: { Authorization: `Bearer ${created.secretKey}`, ...(options.headers ?? {}) } });
  const base = `/v1/projects/${created.project.id}`;
  return { dev, hooks, server, project: created.project, base };
}

/** Registers an endpoint on the receiver at `path`; returns the created endpoint (with secret). */
async function endpoint(app, path, events = ["*"], extra = {}) {
  const res = await app.hooks("POST", `${app.base}/webhook-endpoints`, { body: { url: `${receiver.url}${path}`, events, ...extra } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

const newCustomer = async (app, body = {}) => {
  const res = await app.server("POST", "/api/customers", { body: { email: `c${++counter}@example.test`, ...body } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
};

const deliveryRows = async (endpointId) =>
  (await (await db()).prepare("SELECT * FROM webhook_deliveries WHERE endpoint_id = ?1 ORDER BY created_at").bind(endpointId).all()).results;

describe("endpoints", () => {
  test("an endpoint is created with its secret shown once, then listed, edited, rotated and deleted, all audited", async () => {
    const app = await developer("ob_crud");
    const created = await app.hooks("POST", `${app.base}/webhook-endpoints`, {
      headers: { "Idempotency-Key": "first-endpoint" },
      body: { url: `${receiver.url}/crud`, events: ["order.completed", "customer.created", "order.completed"], description: "main" },
    });
    assert.equal(created.status, 201, created.text);
    const { secret, ...shown } = created.body.data;
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(secret.slice(6), "base64").length, 32);
    assert.deepEqual(shown.events, ["customer.created", "order.completed"]);
    assert.equal(shown.secretLast4, secret.slice(-4));

    const replay = await app.hooks("POST", `${app.base}/webhook-endpoints`, {
      headers: { "Idempotency-Key": "first-endpoint" },
      body: { url: `${receiver.url}/crud`, events: ["order.completed", "customer.created", "order.completed"], description: "main" },
    });
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get("idempotent-replayed"), "true");
    assert.equal(replay.body.data.secret, secret);

    const list = await app.hooks("GET", `${app.base}/webhook-endpoints`);
    assert.equal(list.status, 200);
    assert.equal(list.body.total, 1);
    assert.ok(!list.text.includes(secret) && !("secret" in list.body.data[0]));
    const one = await app.hooks("GET", `${app.base}/webhook-endpoints/${shown.id}`);
    assert.equal(one.status, 200);
    assert.ok(!one.text.includes(secret));
    const row = await (await db()).prepare("SELECT secret_enc FROM webhook_endpoints WHERE id = ?1").bind(shown.id).first();
    assert.ok(row.secret_enc.startsWith("v2.") && !row.secret_enc.includes(secret.slice(6)), "the secret is sealed at rest");

    const noStamp = await app.hooks("PATCH", `${app.base}/webhook-endpoints/${shown.id}`, { body: { status: "disabled" } });
    assert.equal(noStamp.status, 422);
    assert.ok(noStamp.body.fieldErrors.updatedAt);
    const stale = await app.hooks("PATCH", `${app.base}/webhook-endpoints/${shown.id}`, { body: { status: "disabled", updatedAt: shown.updatedAt - 1 } });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.code, "stale_update");
    const edited = await app.hooks("PATCH", `${app.base}/webhook-endpoints/${shown.id}`, {
      body: { events: ["*"], description: "", status: "disabled", updatedAt: shown.updatedAt },
    });
    assert.equal(edited.status, 200, edited.text);
    assert.deepEqual(edited.body.data.events, ["*"]);
    assert.equal(edited.body.data.status, "disabled");
    assert.equal(edited.body.data.description, null);
    assert.ok(edited.body.data.updatedAt > shown.updatedAt);

    const rotated = await app.hooks("POST", `${app.base}/webhook-endpoints/${shown.id}/rotate-secret`, { body: { gracePeriodSeconds: 3600 } });
    assert.equal(rotated.status, 200, rotated.text);
    assert.match(rotated.body.data.secret, /^whsec_/);
    assert.notEqual(rotated.body.data.secret, secret);
    assert.equal(rotated.body.data.secretLast4, rotated.body.data.secret.slice(-4));
    assert.ok(rotated.body.data.previousSecretExpiresAt > Date.now());
    const badGrace = await app.hooks("POST", `${app.base}/webhook-endpoints/${shown.id}/rotate-secret`, { body: { gracePeriodSeconds: 90000 } });
    assert.equal(badGrace.status, 422);

    const deleted = await app.hooks("DELETE", `${app.base}/webhook-endpoints/${shown.id}`);
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body.data, { id: shown.id, deleted: true });
    assert.equal((await app.hooks("GET", `${app.base}/webhook-endpoints/${shown.id}`)).status, 404);
    assert.equal((await app.hooks("DELETE", `${app.base}/webhook-endpoints/${shown.id}`)).status, 404);
    assert.equal((await app.hooks("GET", `${app.base}/webhook-endpoints`)).body.total, 0);

    const audit = await app.dev.call("GET", `${app.base}/audit?pageSize=50`);
    const actions = audit.body.data.map((e) => e.action);
    for (const action of ["webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.secret_rotated", "webhook_endpoint.deleted"]) {
      assert.equal(actions.filter((a) => a === action).length, 1, action);
    }
    assert.ok(!audit.text.includes("whsec_"), "no secret in the audit trail");
  });

  test("URL rules: live projects take https to public hosts only; test projects may also use loopback", async () => {
    const test_ = await developer("ob_urls_test");
    const live = await developer("ob_urls_live", { mode: "live" });
    const cases = [
      [test_, "http://127.0.0.1:9/hook", 201],
      [test_, "http://localhost:3000/hook", 201],
      [test_, "https://hooks.example.com/tollgate", 201],
      [test_, "http://hooks.example.com/tollgate", 422],
      [test_, "http://10.0.0.1/hook", 422],
      [test_, "https://169.254.169.254/latest/meta-data", 422],
      [live, "https://hooks.example.com/tollgate", 201],
      [live, "http://hooks.example.com/tollgate", 422],
      [live, "https://127.0.0.1/hook", 422],
      [live, "http://127.0.0.1:9/hook", 422],
      [live, "https://localhost/hook", 422],
      [live, "https://192.168.1.10/hook", 422],
      [live, "https://[::1]/hook", 422],
      [live, "https://[fe80::1]/hook", 422],
      [live, "https://2130706433/hook", 422],
      [live, "https://user:pass@hooks.example.com/", 422],
      [live, "https://hooks.example.com/#frag", 422],
      [live, "ftp://hooks.example.com/", 422],
      [live, "not a url", 422],
    ];
    for (const [app, url, status] of cases) {
      const res = await app.hooks("POST", `${app.base}/webhook-endpoints`, { body: { url, events: ["*"] } });
      assert.equal(res.status, status, `${app.project.mode} ${url}: ${res.text}`);
      if (status === 422) assert.ok(res.body.fieldErrors.url, url);
    }
    const before = await test_.hooks("GET", `${test_.base}/webhook-endpoints`);
    const bad = [
      [{ url: "https://hooks.example.com/x" }, "events"],
      [{ url: "https://hooks.example.com/x", events: [] }, "events"],
      [{ url: "https://hooks.example.com/x", events: ["order.shipped"] }, "events"],
      [{ events: ["*"] }, "url"],
      [{ url: "https://hooks.example.com/x", events: ["*"], description: "d".repeat(300) }, "description"],
    ];
    for (const [body, field] of bad) {
      const res = await test_.hooks("POST", `${test_.base}/webhook-endpoints`, { body });
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.ok(res.body.fieldErrors[field], `${field} in ${res.text}`);
    }
    const unknown = await test_.hooks("POST", `${test_.base}/webhook-endpoints`, { body: { url: "https://hooks.example.com/x", events: ["*"], secret: "mine" } });
    assert.equal(unknown.status, 400);
    const afterwards = await test_.hooks("GET", `${test_.base}/webhook-endpoints`);
    assert.equal(afterwards.body.total, before.body.total, "refused inputs change nothing");
  });

  test("another developer's endpoints and deliveries answer 404, and settings need a fresh sign-in", async () => {
    const owner = await developer("ob_owner");
    const hook = await endpoint(owner, "/owner", ["customer.created"]);
    await newCustomer(owner);
    const [delivery] = await eventually(async () => {
      const rows = await deliveryRows(hook.id);
      return rows.length > 0 && rows;
    });
    const stranger = await signIn(stack, "ob_stranger");
    const as = (method, path, body) => stack.call("webhooks", method, path, { headers: { Authorization: `Bearer ${stranger.token}` }, body });
    for (const [method, path, body] of [
      ["GET", `${owner.base}/webhook-endpoints`],
      ["POST", `${owner.base}/webhook-endpoints`, { url: "https://hooks.example.com/x", events: ["*"] }],
      ["GET", `${owner.base}/webhook-endpoints/${hook.id}`],
      ["PATCH", `${owner.base}/webhook-endpoints/${hook.id}`, { status: "disabled", updatedAt: hook.updatedAt }],
      ["DELETE", `${owner.base}/webhook-endpoints/${hook.id}`],
      ["POST", `${owner.base}/webhook-endpoints/${hook.id}/rotate-secret`],
      ["GET", `${owner.base}/webhook-deliveries`],
      ["GET", `${owner.base}/webhook-deliveries/${delivery.id}`],
      ["POST", `${owner.base}/webhook-deliveries/${delivery.id}/resend`],
      ["POST", `${owner.base}/webhook-endpoints/${hook.id}/test`],
    ]) {
      const res = await as(method, path, body);
      assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
    }
    const stale = await signIn(stack, "ob_owner", { authAge: 3600 });
    const late = await stack.call("webhooks", "POST", `${owner.base}/webhook-endpoints`, {
      headers: { Authorization: `Bearer ${stale.token}` },
      body: { url: "https://hooks.example.com/x", events: ["*"] },
    });
    assert.equal(late.status, 403);
    assert.equal(late.body.code, "reauthentication_required");
    assert.equal((await stack.call("webhooks", "GET", `${owner.base}/webhook-endpoints`)).status, 401);
  });
});

describe("delivery", () => {
  test("customer.created arrives signed per Standard Webhooks, with the customer view and no secrets", async () => {
    const app = await developer("ob_signed");
    const hook = await endpoint(app, "/signed", ["customer.created"]);
    const customer = await newCustomer(app, { externalId: "u-signed" });

    const [request] = await received("/signed");
    assert.ok(verified(request, hook.secret), "the signature verifies with the secret shown at creation");
    assert.ok(!verified(request, `whsec_${Buffer.alloc(32, 7).toString("base64")}`), "and not with another");
    const event = JSON.parse(request.body);
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["webhook-id"], event.id);
    assert.match(event.id, /^evt_/);
    assert.ok(Math.abs(Number(request.headers["webhook-timestamp"]) - Date.now() / 1000) < 60);
    assert.equal(event.type, "customer.created");
    assert.equal(event.projectId, app.project.id);
    assert.equal(event.mode, "test");
    assert.deepEqual(event.data, customer);
    assert.ok(!/sk_test_|whsec_/.test(request.body));

    const listed = await eventually(async () => {
      const res = await app.hooks("GET", `${app.base}/webhook-deliveries?status=delivered`);
      return res.body.total === 1 && res.body;
    });
    const delivery = listed.data[0];
    assert.equal(delivery.eventId, event.id);
    assert.equal(delivery.attempts, 1);
    assert.equal(delivery.lastStatusCode, 200);
    assert.deepEqual(delivery.payload, event);
    const one = await app.hooks("GET", `${app.base}/webhook-deliveries/${delivery.id}`);
    assert.equal(one.body.data.id, delivery.id);
    for (const query of ["status=lost", "eventType=nope"]) {
      assert.equal((await app.hooks("GET", `${app.base}/webhook-deliveries?${query}`)).status, 422, query);
    }
    assert.equal((await app.hooks("GET", `${app.base}/webhook-deliveries?eventType=order.completed`)).body.total, 0);
  });

  test("after a 500 the same event comes again with the same webhook-id, and then counts as delivered", async () => {
    const app = await developer("ob_retry");
    receiver.answer("/flaky", 500);
    const hook = await endpoint(app, "/flaky", ["customer.created"]);
    await newCustomer(app);

    const [first] = await received("/flaky");
    receiver.answer("/flaky", 200);
    const requests = await received("/flaky", 2);
    assert.equal(requests[1].headers["webhook-id"], first.headers["webhook-id"]);
    assert.equal(requests[1].body, first.body);
    assert.ok(requests.every((r) => verified(r, hook.secret)));
    const [row] = await eventually(async () => {
      const rows = await deliveryRows(hook.id);
      return rows[0]?.status === "delivered" && rows;
    });
    assert.equal(row.attempts, 2);
    assert.equal(row.last_status_code, 200);
    assert.ok(row.delivered_at >= row.created_at + 900, "the retry waited for the backoff");
    await sleep(1500);
    assert.equal(receiver.at("/flaky").length, 2, "nothing after the delivery succeeded");
  });

  test("a delivery still failing when its 24 h window closes is marked failed", async () => {
    const app = await developer("ob_window");
    receiver.answer("/dead", 503);
    const hook = await endpoint(app, "/dead", ["customer.created"]);
    await newCustomer(app);
    await received("/dead");
    // Arrange: the window closed while the first retry was waiting.
    await (await db()).prepare("UPDATE webhook_deliveries SET deadline_at = ?2, created_at = ?3 WHERE endpoint_id = ?1").bind(hook.id, Date.now() - 1, Date.now() - 86_400_001).run();

    const [row] = await eventually(async () => {
      const rows = await deliveryRows(hook.id);
      return rows[0]?.status === "failed" && rows;
    });
    assert.equal(row.last_status_code, 503);
    assert.equal(row.last_error, "http_503");
    assert.equal(row.next_attempt_at, null);
    const attempts = receiver.at("/dead").length;
    await sleep(2500);
    assert.equal(receiver.at("/dead").length, attempts, "no attempt after failing");
    const listed = await app.hooks("GET", `${app.base}/webhook-deliveries?status=failed&endpointId=${hook.id}`);
    assert.equal(listed.body.total, 1);
  });

  test("an unresolvable host, a refused port, a failed TLS handshake and a 500 each show their category, never the runtime's message or a stack trace", async () => {
    const app = await developer("ob_unreachable");
    const closed = await new Promise((done) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address();
        probe.close(() => done(port));
      });
    });
    receiver.answer("/broken", 500);
    const cases = [
      // .invalid never resolves (RFC 6761).
      { url: "https://nowhere.invalid/hook", lastError: "dns", lastStatusCode: null },
      { url: `http://127.0.0.1:${closed}/nobody`, lastError: "connection_refused", lastStatusCode: null },
      // The receiver speaks plain HTTP, so a TLS handshake with it fails.
      { url: `${receiver.url.replace("http:", "https:")}/tls`, lastError: "tls", lastStatusCode: null },
      { url: `${receiver.url}/broken`, lastError: "http_500", lastStatusCode: 500 },
    ];
    for (const c of cases) {
      const res = await app.hooks("POST", `${app.base}/webhook-endpoints`, { body: { url: c.url, events: ["customer.created"] } });
      assert.equal(res.status, 201, res.text);
      c.endpointId = res.body.data.id;
    }
    const logsBefore = stack.logs.length;

    await newCustomer(app);

    for (const c of cases) {
      const [row] = await eventually(async () => {
        const rows = await deliveryRows(c.endpointId);
        return rows[0]?.attempts >= 1 && rows[0].last_error && rows;
      }, 15_000, `a failed attempt to ${c.url}`);
      const listed = await app.hooks("GET", `${app.base}/webhook-deliveries?endpointId=${c.endpointId}`);
      const shown = listed.body.data[0];
      assert.deepEqual([shown.lastError, shown.lastStatusCode], [c.lastError, c.lastStatusCode], c.url);
      assert.equal(row.last_error, c.lastError);
    }
    const printed = stack.logs.slice(logsBefore).map((entry) => entry.message);
    assert.ok(!printed.some((m) => /\nstack:|workerd@|internal error/.test(m)), printed.join("\n"));
  });

  test("a sealed secret copied onto another endpoint's row no longer opens there", async () => {
    const app = await developer("ob_swapped");
    const victim = await endpoint(app, "/swap-victim", ["customer.created"]);
    const mine = await endpoint(app, "/swap-mine", ["customer.created"]);
    const d = await db();
    const { secret_enc: sealed } = await d.prepare("SELECT secret_enc FROM webhook_endpoints WHERE id = ?1").bind(mine.id).first();
    // Someone who can write the database but lacks the key moves a known secret onto the victim.
    await d.prepare("UPDATE webhook_endpoints SET secret_enc = ?2 WHERE id = ?1").bind(victim.id, sealed).run();

    await newCustomer(app);

    const [request] = await received("/swap-mine");
    assert.ok(verified(request, mine.secret));
    const [row] = await eventually(async () => {
      const rows = await deliveryRows(victim.id);
      return rows[0]?.last_error && rows;
    });
    assert.equal(row.last_error, "signing_failed");
    assert.match(sealed, /^v2\./);
    assert.equal(receiver.at("/swap-victim").length, 0, "nothing was signed with the moved secret");
  });

  test("a secret sealed before binding (v1) still signs, and a rotation re-seals it bound", async () => {
    const app = await developer("ob_legacy_seal");
    const hook = await endpoint(app, "/legacy-seal", ["customer.created"]);
    const key = Buffer.from(devSecrets(stack.dir).DATA_ENCRYPTION_KEY, "base64");
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    const body = Buffer.concat([cipher.update(hook.secret, "utf8"), cipher.final(), cipher.getAuthTag()]);
    const legacy = `v1.${Buffer.concat([iv, body]).toString("base64url")}`;
    await (await db()).prepare("UPDATE webhook_endpoints SET secret_enc = ?2 WHERE id = ?1").bind(hook.id, legacy).run();

    await newCustomer(app);
    const [request] = await received("/legacy-seal");
    const rotated = await app.hooks("POST", `${app.base}/webhook-endpoints/${hook.id}/rotate-secret`, { body: {} });
    const stored = await (await db()).prepare("SELECT secret_enc FROM webhook_endpoints WHERE id = ?1").bind(hook.id).first();

    assert.ok(verified(request, hook.secret), "the v1 value opened without associated data");
    assert.equal(rotated.status, 200, rotated.text);
    assert.match(stored.secret_enc, /^v2\./);
  });

  test("a resend delivers again with the same webhook-id, audited", async () => {
    const app = await developer("ob_resend");
    const hook = await endpoint(app, "/resend", ["customer.created"]);
    await newCustomer(app);
    const [first] = await received("/resend");
    const delivery = await eventually(async () => {
      const res = await app.hooks("GET", `${app.base}/webhook-deliveries?endpointId=${hook.id}`);
      return res.body.data[0]?.status === "delivered" && res.body.data[0];
    });

    const resent = await app.hooks("POST", `${app.base}/webhook-deliveries/${delivery.id}/resend`);
    assert.equal(resent.status, 202, resent.text);
    assert.equal(resent.body.data.status, "pending");
    const [, again] = await received("/resend", 2);
    assert.equal(again.headers["webhook-id"], first.headers["webhook-id"]);
    assert.equal(again.body, first.body);
    assert.ok(verified(again, hook.secret));
    const done = await eventually(async () => {
      const res = await app.hooks("GET", `${app.base}/webhook-deliveries/${delivery.id}`);
      return res.body.data.status === "delivered" && res.body.data;
    });
    assert.equal(done.attempts, 2);
    const audit = await app.dev.call("GET", `${app.base}/audit`);
    assert.ok(audit.body.data.some((e) => e.action === "webhook_delivery.resent" && e.targetId === delivery.id));
    assert.equal((await app.hooks("POST", `${app.base}/webhook-deliveries/whd_nope/resend`)).status, 404);
  });

  test("a test event reaches only the endpoint it was sent to, signed, whatever that endpoint subscribes to; audited", async () => {
    const app = await developer("ob_ping");
    const hook = await endpoint(app, "/ping", ["order.completed"]);
    const other = await endpoint(app, "/ping-other", ["*"]);

    const sent = await app.hooks("POST", `${app.base}/webhook-endpoints/${hook.id}/test`);
    assert.equal(sent.status, 202, sent.text);
    assert.equal(sent.body.data.eventType, "webhook.test");
    assert.equal(sent.body.data.endpointId, hook.id);
    const [request] = await received("/ping");
    assert.ok(verified(request, hook.secret));
    const body = JSON.parse(request.body);
    assert.equal(body.type, "webhook.test");
    assert.equal(body.id, sent.body.data.eventId);
    assert.equal(body.data.endpointId, hook.id);
    const delivered = await eventually(async () => {
      const res = await app.hooks("GET", `${app.base}/webhook-deliveries?eventType=webhook.test`);
      return res.body.data[0]?.status === "delivered" && res.body;
    });
    assert.equal(delivered.total, 1);

    const again = await app.hooks("POST", `${app.base}/webhook-endpoints/${hook.id}/test`);
    assert.equal(again.status, 202);
    assert.notEqual(again.body.data.eventId, sent.body.data.eventId, "each test is a new event");
    await received("/ping", 2);
    await sleep(500);
    assert.equal(receiver.at("/ping-other").length, 0);
    assert.equal((await deliveryRows(other.id)).length, 0);
    const audit = await app.dev.call("GET", `${app.base}/audit`);
    assert.equal(audit.body.data.filter((e) => e.action === "webhook_endpoint.tested" && e.targetId === hook.id).length, 2);

    const subscribe = await app.hooks("POST", `${app.base}/webhook-endpoints`, { body: { url: `${receiver.url}/ping-sub`, events: ["webhook.test"] } });
    assert.equal(subscribe.status, 422, "nothing subscribes to the test event");
    assert.equal((await app.hooks("POST", `${app.base}/webhook-endpoints/whe_nope/test`)).status, 404);
    const off = await app.hooks("PATCH", `${app.base}/webhook-endpoints/${other.id}`, { body: { status: "disabled", updatedAt: other.updatedAt } });
    assert.equal(off.status, 200);
    const refused = await app.hooks("POST", `${app.base}/webhook-endpoints/${other.id}/test`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, "endpoint_disabled");
    assert.equal((await deliveryRows(other.id)).length, 0, "a refused test writes nothing");
  });

  test("a disabled endpoint receives nothing, and its deliveries cannot be resent until enabled", async () => {
    const app = await developer("ob_disabled");
    const hook = await endpoint(app, "/disabled", ["customer.created"]);
    await newCustomer(app);
    await received("/disabled");
    const delivery = await eventually(async () => (await deliveryRows(hook.id))[0]?.status === "delivered" && (await deliveryRows(hook.id))[0]);
    const off = await app.hooks("PATCH", `${app.base}/webhook-endpoints/${hook.id}`, { body: { status: "disabled", updatedAt: hook.updatedAt } });
    assert.equal(off.status, 200);

    await newCustomer(app);
    const resend = await app.hooks("POST", `${app.base}/webhook-deliveries/${delivery.id}/resend`);
    assert.equal(resend.status, 409);
    assert.equal(resend.body.code, "endpoint_disabled");
    await sleep(2000);
    assert.equal(receiver.at("/disabled").length, 1);
    assert.equal((await deliveryRows(hook.id)).length, 1, "no delivery was even queued for it");
  });

  test("an endpoint subscribed to other types gets nothing, and a wildcard gets everything", async () => {
    const app = await developer("ob_types");
    await endpoint(app, "/types-orders", ["order.completed"]);
    const all = await endpoint(app, "/types-all", ["*"]);
    await newCustomer(app);
    await received("/types-all");
    await sleep(1500);
    assert.equal(receiver.at("/types-orders").length, 0);
    assert.equal((await deliveryRows(all.id)).length, 1);
  });

  test("the sweep queues again a pending delivery whose attempt is long overdue", async () => {
    const app = await developer("ob_sweep");
    const hook = await endpoint(app, "/sweep", ["customer.created"]);
    const now = Date.now();
    const payload = JSON.stringify({ id: "evt_sweep1", type: "customer.created", createdAt: now, projectId: app.project.id, mode: "test", data: {} });
    // A delivery whose queue message was lost: pending, due ten minutes ago, never sent.
    await (await db())
      .prepare(
        "INSERT INTO webhook_deliveries (id, project_id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at, deadline_at, created_at, updated_at) VALUES ('whd_sweep1', ?1, ?2, 'evt_sweep1', 'customer.created', ?3, 'pending', 0, ?4, ?5, ?4, ?4)",
      )
      .bind(app.project.id, hook.id, payload, now - 600_000, now + 86_400_000)
      .run();

    await stack.scheduled("webhooks");

    const [request] = await received("/sweep");
    assert.equal(request.headers["webhook-id"], "evt_sweep1");
    assert.ok(verified(request, hook.secret));
    await eventually(async () => (await deliveryRows(hook.id))[0]?.status === "delivered");
  });
});

describe("usage thresholds", () => {
  /** A SaaS project whose free tier allows 5 calls, with an endpoint for thresholds. */
  async function metered(sub) {
    const app = await developer(sub);
    const catalog = await stack.call("catalog", "POST", `${app.base}/tiers`, {
      headers: { Authorization: `Bearer ${app.dev.token}` },
      body: { name: "free", displayName: "Free", price: 0, limit: 5 },
    });
    assert.equal(catalog.status, 201, catalog.text);
    const path = `/usage-${sub}`;
    await endpoint(app, path, ["usage.threshold_reached"]);
    return { ...app, path, tier: catalog.body.data };
  }
  const track = (app, user) => app.server("POST", "/api/data", { headers: { "X-User-Id": user } });
  const thresholdsFor = (app, user) =>
    receiver
      .at(app.path)
      .map((r) => JSON.parse(r.body))
      .filter((e) => e.data.endUserId === user);

  test("with a limit of 5, calls 1 to 7 fire exactly two events: at 80 % (4) and at 100 % (5)", async () => {
    const app = await metered("ob_usage");
    const user = (await newCustomer(app)).id;
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await track(app, user)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);

    await eventually(() => thresholdsFor(app, user).length >= 2);
    await sleep(1500);
    const events = thresholdsFor(app, user);
    assert.deepEqual(
      events.map((e) => [e.type, e.data.threshold, e.data.usage.count, e.data.usage.limit]).sort((a, b) => a[1] - b[1]),
      [
        ["usage.threshold_reached", 80, 4, 5],
        ["usage.threshold_reached", 100, 5, 5],
      ],
    );
  });

  test("the same thresholds never fire twice in a period, even when a bigger limit crosses them again", async () => {
    const app = await metered("ob_usage_again");
    const user = (await newCustomer(app)).id;
    for (let i = 0; i < 5; i++) await track(app, user);
    await eventually(() => thresholdsFor(app, user).length >= 2);
    const raised = await stack.call("catalog", "PATCH", `${app.base}/tiers/${app.tier.id}`, {
      headers: { Authorization: `Bearer ${app.dev.token}` },
      body: { limit: 10, updatedAt: app.tier.updatedAt },
    });
    assert.equal(raised.status, 200, raised.text);

    // 6 to 10 of 10 cross 80 % (8) and 100 % (10) of the new limit, in the same period.
    for (let i = 0; i < 5; i++) assert.equal((await track(app, user)).status, 200);
    await sleep(2000);
    assert.equal(thresholdsFor(app, user).length, 2);
  });

  test("concurrent calls at the boundary fire each threshold exactly once", async () => {
    const app = await metered("ob_usage_race");
    const user = (await newCustomer(app)).id;
    const results = await Promise.all(Array.from({ length: 8 }, () => track(app, user)));
    assert.equal(results.filter((r) => r.status === 200).length, 5);

    await eventually(() => thresholdsFor(app, user).length >= 2);
    await sleep(1500);
    assert.deepEqual(thresholdsFor(app, user).map((e) => e.data.threshold).sort(), [100, 80]);
  });
});

describe("Stripe-driven events", () => {
  const control = (path, account) => stripeApi(stack, "POST", `/_sandbox${path}`, { account });
  const eventsAt = (path, type) =>
    receiver
      .at(path)
      .map((r) => JSON.parse(r.body))
      .filter((e) => e.type === type);

  async function seller(sub, type) {
    const app = await developer(sub, { type });
    const { connection } = await connectStripe(stack, app.dev, "test");
    const catalog = (method, path, body) => stack.call("catalog", method, `${app.base}${path}`, { headers: { Authorization: `Bearer ${app.dev.token}` }, body });
    return { ...app, account: connection.accountId, catalog };
  }

  test("a subscription bought and then failing fires subscription.updated and entitlement.changed granted, then revoked", async () => {
    const app = await seller("ob_sub", "saas");
    await app.catalog("POST", "/tiers", { name: "free", displayName: "Free", price: 0, limit: 3 });
    const pro = (await app.catalog("POST", "/tiers", { name: "pro", displayName: "Pro", price: 900, limit: 100 })).body.data;
    const hook = await endpoint(app, "/subs", ["subscription.updated", "entitlement.changed"]);
    const user = (await newCustomer(app)).id;

    const customer = await stripeApi(stack, "POST", "/v1/customers", { account: app.account, form: { email: `s${++counter}@example.test` } });
    const meta = { tollgate_project_id: app.project.id, tollgate_end_user_id: user, tollgate_tier_id: pro.id };
    const form = { mode: "subscription", "line_items[0][price]": pro.stripePriceId, "line_items[0][quantity]": "1", success_url: "https://example.test/ok", customer: customer.body.id };
    for (const [k, v] of Object.entries(meta)) {
      form[`metadata[${k}]`] = v;
      form[`subscription_data[metadata][${k}]`] = v;
    }
    const session = (await stripeApi(stack, "POST", "/v1/checkout/sessions", { account: app.account, form })).body;
    await (await db())
      .prepare("INSERT INTO checkout_sessions (id, project_id, account_id, kind, end_user_id, tier_id, status, expires_at, created_at, updated_at) VALUES (?1, ?2, ?3, 'subscription', ?4, ?5, 'open', ?6, ?7, ?7)")
      .bind(session.id, app.project.id, app.account, user, pro.id, session.expires_at * 1000, Date.now())
      .run();
    await control(`/checkout/sessions/${session.id}/complete`, app.account);

    const granted = await eventually(() => eventsAt("/subs", "entitlement.changed").find((e) => e.data.change === "granted"));
    assert.equal(granted.data.endUserId, user);
    assert.equal(granted.data.source, "subscription");
    assert.equal(granted.data.plan, "pro");
    const updated = await eventually(() => eventsAt("/subs", "subscription.updated").find((e) => e.data.status === "active"));
    assert.equal(updated.data.endUserId, user);
    assert.equal(updated.data.tierId, pro.id);
    assert.equal(updated.data.amount, 900);
    const { stripe_subscription_id: subscription } = await (await db()).prepare("SELECT stripe_subscription_id FROM subscriptions WHERE end_user_id = ?1").bind(user).first();
    assert.equal(updated.data.stripeSubscriptionId, subscription);

    await control(`/subscriptions/${subscription}/fail_renewal`, app.account);
    const revoked = await eventually(() => eventsAt("/subs", "entitlement.changed").find((e) => e.data.change === "revoked"));
    assert.equal(revoked.data.status, "past_due");
    await eventually(() => eventsAt("/subs", "subscription.updated").find((e) => e.data.status === "past_due"));
    await sleep(1500);
    const changes = eventsAt("/subs", "entitlement.changed").map((e) => e.data.change);
    assert.deepEqual(changes, ["granted", "revoked"], "access moved twice, so exactly two entitlement events");
    assert.ok(receiver.at("/subs").every((r) => verified(r, hook.secret)));
    const ids = receiver.at("/subs").map((r) => r.headers["webhook-id"]);
    assert.equal(new Set(ids).size, ids.length, "every event has its own id");
  });

  test("a paid cart fires order.completed and entitlement.changed once", async () => {
    const app = await seller("ob_order", "store");
    const product = (await app.catalog("POST", "/products", { name: "ebook", displayName: "E-book", price: 1500, inventory: 10 })).body.data;
    await endpoint(app, "/orders", ["order.completed", "entitlement.changed"]);
    const orderId = `ord_ob${++counter}`;
    const form = {
      mode: "payment",
      "line_items[0][price]": product.stripePriceId,
      "line_items[0][quantity]": "2",
      success_url: "https://example.test/ok",
      customer_email: "buyer@example.test",
      "metadata[tollgate_project_id]": app.project.id,
      "metadata[tollgate_order_id]": orderId,
    };
    const session = (await stripeApi(stack, "POST", "/v1/checkout/sessions", { account: app.account, form })).body;
    const now = Date.now();
    const d = await db();
    await d.batch([
      d.prepare("INSERT INTO orders (id, project_id, email, status, amount_total, currency, created_at, updated_at) VALUES (?1, ?2, 'buyer@example.test', 'pending', 3000, 'usd', ?3, ?3)").bind(orderId, app.project.id, now),
      d.prepare("INSERT INTO inventory_reservations (order_id, product_id, quantity, unit_amount, status, created_at, updated_at) VALUES (?1, ?2, 2, 1500, 'held', ?3, ?3)").bind(orderId, product.id, now),
      d.prepare("UPDATE products SET inventory = inventory - 2 WHERE id = ?1").bind(product.id),
      d.prepare("INSERT INTO checkout_sessions (id, project_id, account_id, kind, order_id, status, expires_at, created_at, updated_at) VALUES (?1, ?2, ?3, 'payment', ?4, 'open', ?5, ?6, ?6)").bind(session.id, app.project.id, app.account, orderId, session.expires_at * 1000, now),
    ]);

    await control(`/checkout/sessions/${session.id}/complete`, app.account);

    const order = await eventually(() => eventsAt("/orders", "order.completed")[0]);
    assert.deepEqual(
      { id: order.data.id, status: order.data.status, amountTotal: order.data.amountTotal, currency: order.data.currency, email: order.data.email },
      { id: orderId, status: "paid", amountTotal: 3000, currency: "usd", email: "buyer@example.test" },
    );
    assert.deepEqual(order.data.items, [{ productId: product.id, name: "ebook", quantity: 2, unitAmount: 1500 }]);
    const access = await eventually(() => eventsAt("/orders", "entitlement.changed")[0]);
    assert.deepEqual([access.data.change, access.data.source, access.data.orderId, access.data.productIds], ["granted", "order", orderId, [product.id]]);

    // Stripe delivering the same event again applies nothing and reports nothing.
    const [completed] = (await stripeApi(stack, "GET", "/v1/events?type=checkout.session.completed&limit=1", { account: app.account })).body.data;
    await control(`/events/${completed.id}/replay`, app.account);
    await sleep(1500);
    assert.equal(eventsAt("/orders", "order.completed").length, 1);
    assert.equal(eventsAt("/orders", "entitlement.changed").length, 1);
  });
});

describe("a webhooks worker outside development", () => {
  let prod;
  before(async () => {
    // Only the webhooks worker is production-configured; the platform stays the issuer.
    prod = await testStack({ vars: { WEBHOOK_RETRY_BASE_SECONDS: "1" }, workerVars: { webhooks: { ENVIRONMENT: "production" } } });
  });
  after(() => prod?.stop());

  async function prodDeveloper(sub) {
    const dev = await signIn(prod, sub);
    const created = await createProject(dev, { name: sub, type: "saas" });
    const hooks = (method, path, options = {}) =>
      prod.call("webhooks", method, path, { ...options, headers: { Authorization: `Bearer ${dev.token}`, ...(options.headers ?? {}) } });
    return { hooks, created, base: `/v1/projects/${created.project.id}` };
  }

  test("test projects cannot register loopback endpoints, and nothing is stored", async () => {
    const app = await prodDeveloper("ob_prod_loopback");
    for (const url of [`${receiver.url}/prod`, "http://localhost:3000/hook", "https://127.0.0.1/hook", "http://[::1]:8080/"]) {
      const res = await app.hooks("POST", `${app.base}/webhook-endpoints`, { body: { url, events: ["*"] } });

      assert.equal(res.status, 422, `${url}: ${res.text}`);
      assert.match(res.body.fieldErrors.url[0], /loopback/);
    }
    const https = await app.hooks("POST", `${app.base}/webhook-endpoints`, { body: { url: "https://hooks.example.com/x", events: ["*"] } });
    const editedToLoopback = await app.hooks("PATCH", `${app.base}/webhook-endpoints/${https.body.data.id}`, {
      body: { url: `${receiver.url}/prod`, updatedAt: https.body.data.updatedAt },
    });

    assert.equal(https.status, 201);
    assert.equal(editedToLoopback.status, 422);
    const listed = await app.hooks("GET", `${app.base}/webhook-endpoints`);
    assert.deepEqual(listed.body.data.map((e) => e.url), ["https://hooks.example.com/x"]);
  });

  test("an endpoint stored with a loopback URL under older rules is never called", async () => {
    const app = await prodDeveloper("ob_prod_legacy");
    const made = await app.hooks("POST", `${app.base}/webhook-endpoints`, { body: { url: "https://hooks.example.com/x", events: ["customer.created"] } });
    await (await prod.d1()).prepare("UPDATE webhook_endpoints SET url = ?2 WHERE id = ?1").bind(made.body.data.id, `${receiver.url}/legacy`).run();

    const customer = await prod.call("api", "POST", "/api/customers", { headers: { Authorization: `Bearer ${app.created.secretKey}` }, body: { email: "legacy@example.test" } });

    assert.equal(customer.status, 201);
    const rows = await eventually(async () => {
      const all = (await (await prod.d1()).prepare("SELECT * FROM webhook_deliveries WHERE endpoint_id = ?1").bind(made.body.data.id).all()).results;
      return all[0]?.last_error && all;
    });
    assert.equal(rows[0].last_error, "destination_not_allowed");
    await sleep(500);
    assert.equal(receiver.at("/legacy").length, 0, "the loopback receiver got nothing");
  });
});
