// One idempotency contract for every write that takes an `Idempotency-Key`, checked route by
// route from schemas/openapi.yaml: a malformed key answers 400 `invalid_idempotency_key` and
// changes nothing; the same key with the same request replays the first answer with
// `Idempotent-Replayed: true`; the same key with another body answers 422
// `idempotency_key_reused` and changes nothing. The first test fails when the contract gains
// (or loses) such a route without a case here, so no route can drift again.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { ROOT } from "../scripts/stack.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const ORIGIN = "http://127.0.0.1:5173";
const PDF = (fill) => Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(256, fill)]).toString("latin1");
const MALFORMED = [
  ["300 characters", "k".repeat(300)],
  ["non-ASCII", "clé-ÿ"],
  ["a tab", "key\twith-tab"],
];
/** The tables a write could touch: a refused request leaves every count as it was. */
const TABLES = ["projects", "api_keys", "assets", "tiers", "products", "webhook_endpoints", "end_users", "usage_counters", "checkout_sessions", "orders", "subscriptions", "idempotency_keys", "audit_events"];

const spec = parse(readFileSync(join(ROOT, "schemas", "openapi.yaml"), "utf8"));
/** `METHOD /path` of every operation whose parameters include the shared IdempotencyKey. */
const idempotentRoutes = Object.entries(spec.paths)
  .flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([, op]) => (op.parameters ?? []).some((p) => p.$ref === "#/components/parameters/IdempotencyKey"))
      .map(([method]) => `${method.toUpperCase()} ${path}`),
  )
  .sort();

let stack;
let counter = 0;

async function snapshot() {
  const db = await stack.d1();
  const out = {};
  for (const table of TABLES) out[table] = (await db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first()).n;
  // Rows alone would not show a replay counting again: the counter's row is updated in place.
  out.units_counted = (await db.prepare("SELECT COALESCE(SUM(count), 0) AS n FROM usage_counters").first()).n;
  return out;
}

/** A developer with Stripe connected in both modes. */
async function developer() {
  const dev = await signIn(stack, `dev_idem_${++counter}`);
  const { connection } = await connectStripe(stack, dev, "test");
  await connectStripe(stack, dev, "live");
  return { ...dev, account: connection.accountId };
}

/** A SaaS project with paid tiers pro, team and max, and one end user. */
async function plans(dev) {
  const app = await createProject(dev, { name: `Plans ${counter}`, type: "saas" });
  for (const [name, price] of [["free", 0], ["pro", 900], ["team", 2900], ["max", 4900]]) {
    const res = await stack.call("catalog", "POST", `/v1/projects/${app.project.id}/tiers`, { headers: { Authorization: `Bearer ${dev.token}` }, body: { name, displayName: name, price, limit: 10 + price } });
    assert.equal(res.status, 201, res.text);
  }
  const user = await stack.call("api", "POST", "/api/customers", { headers: { Authorization: `Bearer ${app.secretKey}` }, body: { email: `idem${++counter}@example.test` } });
  assert.equal(user.status, 201, user.text);
  return { app, user: user.body.data.id };
}

/** `plans` with the end user subscribed to pro through checkout. */
async function subscribed(dev) {
  const { app, user } = await plans(dev);
  const headers = { Authorization: `Bearer ${app.secretKey}`, "X-User-Id": user };
  const checkout = await stack.call("api", "POST", "/api/create-checkout", { headers, body: { tier: "pro", successUrl: `${ORIGIN}/ok`, cancelUrl: `${ORIGIN}/no` } });
  assert.equal(checkout.status, 200, checkout.text);
  const paid = await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${checkout.body.sessionId}/complete`, { account: dev.account });
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
  return { app, headers, user };
}

const asDeveloper = (dev) => ({ Authorization: `Bearer ${dev.token}` });
const raw = { "Content-Type": "application/octet-stream" };

/**
 * For each idempotent route: how to send it (`worker`, `path`, `headers`) after `arrange`,
 * the first body and another one, and the success status.
 */
const CASES = {
  "POST /v1/billing/checkout": async (dev) => ({
    worker: "platform", path: "/v1/billing/checkout", headers: asDeveloper(dev), status: 200,
    bodies: [{ successUrl: `${ORIGIN}/ok`, cancelUrl: `${ORIGIN}/no` }, { successUrl: `${ORIGIN}/other`, cancelUrl: `${ORIGIN}/no` }],
  }),
  "POST /v1/projects": async (dev) => ({
    worker: "platform", path: "/v1/projects", headers: asDeveloper(dev), status: 201,
    bodies: [{ name: "First", type: "saas" }, { name: "Second", type: "saas" }],
  }),
  "POST /v1/projects/{id}/keys/rotate": async (dev) => {
    const { project } = await createProject(dev);
    return { worker: "platform", path: `/v1/projects/${project.id}/keys/rotate`, headers: asDeveloper(dev), status: 201, bodies: [{ gracePeriodSeconds: 0 }, { gracePeriodSeconds: 60 }] };
  },
  "POST /v1/projects/{id}/assets": async (dev) => {
    const { project } = await createProject(dev, { type: "store" });
    return { worker: "platform", path: `/v1/projects/${project.id}/assets?filename=guide.pdf&visibility=private`, headers: { ...asDeveloper(dev), ...raw }, status: 201, bodies: [PDF(0x41), PDF(0x42)] };
  },
  "POST /v1/projects/{id}/tiers": async (dev) => {
    const { project } = await createProject(dev);
    return { worker: "catalog", path: `/v1/projects/${project.id}/tiers`, headers: asDeveloper(dev), status: 201, bodies: [{ name: "pro", displayName: "Pro", price: 900, limit: 100 }, { name: "team", displayName: "Team", price: 2900, limit: 1000 }] };
  },
  "POST /v1/projects/{id}/products": async (dev) => {
    const { project } = await createProject(dev, { type: "store" });
    return { worker: "catalog", path: `/v1/projects/${project.id}/products`, headers: asDeveloper(dev), status: 201, bodies: [{ name: "mug", displayName: "Mug", price: 1200 }, { name: "cap", displayName: "Cap", price: 900 }] };
  },
  "POST /v1/projects/{id}/promote": async (dev) => {
    const { project } = await createProject(dev);
    return { worker: "catalog", path: `/v1/projects/${project.id}/promote`, headers: asDeveloper(dev), status: 201, bodies: [{ name: "Launch" }, { name: "Other launch" }] };
  },
  "POST /v1/projects/{id}/webhook-endpoints": async (dev) => {
    const { project } = await createProject(dev);
    return { worker: "webhooks", path: `/v1/projects/${project.id}/webhook-endpoints`, headers: asDeveloper(dev), status: 201, bodies: [{ url: "http://127.0.0.1:9/a", events: ["customer.created"] }, { url: "http://127.0.0.1:9/b", events: ["customer.created"] }] };
  },
  "POST /v1/projects/{id}/webhook-endpoints/{endpointId}/rotate-secret": async (dev) => {
    const { project } = await createProject(dev);
    const made = await stack.call("webhooks", "POST", `/v1/projects/${project.id}/webhook-endpoints`, { headers: asDeveloper(dev), body: { url: "http://127.0.0.1:9/a", events: ["customer.created"] } });
    assert.equal(made.status, 201, made.text);
    return { worker: "webhooks", path: `/v1/projects/${project.id}/webhook-endpoints/${made.body.data.id}/rotate-secret`, headers: asDeveloper(dev), status: 200, bodies: [{ gracePeriodSeconds: 0 }, { gracePeriodSeconds: 60 }] };
  },
  "POST /api/data": async (dev) => {
    const { app, user } = await plans(dev);
    // A count lives in the end user's metering object and reaches D1 by its flush: the
    // ledger is settled before each snapshot, so a late flush of the first call is not
    // mistaken for the replay counting.
    const settle = () => stack.settleMeters(app.project.id);
    return { worker: "api", path: "/api/data", headers: { Authorization: `Bearer ${app.secretKey}`, "X-User-Id": user }, status: 200, bodies: [{ cost: 1 }, { cost: 2 }], settle };
  },
  "POST /api/usage/track": async (dev) => {
    const { app, user } = await plans(dev);
    // A count lives in the end user's metering object and reaches D1 by its flush: the
    // ledger is settled before each snapshot, so a late flush of the first call is not
    // mistaken for the replay counting.
    const settle = () => stack.settleMeters(app.project.id);
    return { worker: "api", path: "/api/usage/track", headers: { Authorization: `Bearer ${app.secretKey}`, "X-User-Id": user }, status: 200, bodies: [{ cost: 1 }, { cost: 2 }], settle };
  },
  "POST /api/create-checkout": async (dev) => {
    const { app, user } = await plans(dev);
    return { worker: "api", path: "/api/create-checkout", headers: { Authorization: `Bearer ${app.secretKey}`, "X-User-Id": user }, status: 200, bodies: [{ tier: "pro", successUrl: `${ORIGIN}/ok`, cancelUrl: `${ORIGIN}/no` }, { tier: "team", successUrl: `${ORIGIN}/ok`, cancelUrl: `${ORIGIN}/no` }] };
  },
  "POST /api/cart/checkout": async (dev) => {
    const shop = await createProject(dev, { name: "Shop", type: "store" });
    const made = await stack.call("catalog", "POST", `/v1/projects/${shop.project.id}/products`, { headers: asDeveloper(dev), body: { name: "mug", displayName: "Mug", price: 1200, inventory: 50 } });
    assert.equal(made.status, 201, made.text);
    const items = (quantity) => ({ items: [{ productId: made.body.data.id, quantity }], email: "buyer@example.test", successUrl: `${ORIGIN}/ok`, cancelUrl: `${ORIGIN}/no` });
    return { worker: "api", path: "/api/cart/checkout", headers: { "X-Publishable-Key": shop.project.publishableKey, "CF-Connecting-IP": "203.0.113.7" }, status: 200, bodies: [items(1), items(2)] };
  },
  "POST /api/subscription/cancel": async (dev) => {
    const { headers } = await subscribed(dev);
    return { worker: "api", path: "/api/subscription/cancel", headers, status: 200, bodies: [{}, { immediately: true }] };
  },
  "POST /api/subscription/resume": async (dev) => {
    const { headers } = await subscribed(dev);
    const canceling = await stack.call("api", "POST", "/api/subscription/cancel", { headers, body: {} });
    assert.equal(canceling.status, 200, canceling.text);
    return { worker: "api", path: "/api/subscription/resume", headers, status: 200, bodies: ["", "{}"] };
  },
  "POST /v1/projects/{id}/customers/{customerId}/subscription/cancel": async (dev) => {
    const { app, user } = await subscribed(dev);
    return { worker: "catalog", path: `/v1/projects/${app.project.id}/customers/${user}/subscription/cancel`, headers: asDeveloper(dev), status: 200, bodies: [{}, { immediately: true }] };
  },
  "POST /v1/projects/{id}/customers/{customerId}/subscription/resume": async (dev) => {
    const { app, headers, user } = await subscribed(dev);
    const canceling = await stack.call("api", "POST", "/api/subscription/cancel", { headers, body: {} });
    assert.equal(canceling.status, 200, canceling.text);
    return { worker: "catalog", path: `/v1/projects/${app.project.id}/customers/${user}/subscription/resume`, headers: asDeveloper(dev), status: 200, bodies: ["", "{}"] };
  },
  "POST /v1/projects/{id}/customers/{customerId}/subscription/change": async (dev) => {
    const { app, user } = await subscribed(dev);
    return { worker: "catalog", path: `/v1/projects/${app.project.id}/customers/${user}/subscription/change`, headers: asDeveloper(dev), status: 200, bodies: [{ tier: "team" }, { tier: "max" }] };
  },
  "POST /api/subscription/change": async (dev) => {
    const { headers } = await subscribed(dev);
    return { worker: "api", path: "/api/subscription/change", headers, status: 200, bodies: [{ tier: "team" }, { tier: "max" }] };
  },
  "POST /api/assets": async (dev) => {
    const shop = await createProject(dev, { type: "store" });
    return { worker: "api", path: "/api/assets?filename=guide.pdf&visibility=private", headers: { Authorization: `Bearer ${shop.secretKey}`, ...raw }, status: 201, bodies: [PDF(0x41), PDF(0x42)] };
  },
};

before(async () => {
  stack = await testStack();
});
after(() => stack?.stop());

test("every route the contract marks idempotent has a case here, and every case is such a route", () => {
  assert.ok(idempotentRoutes.length >= 15, `only ${idempotentRoutes.length} idempotent routes found: the walk is broken`);
  assert.deepEqual(Object.keys(CASES).sort(), idempotentRoutes);
});

describe("every idempotent write", () => {
  for (const route of Object.keys(CASES)) {
    test(`${route}: a malformed key is refused, a replay answers the same, another body under the key is refused`, async () => {
      // Arrange
      const dev = await developer();
      const c = await CASES[route](dev);
      const send = (body, key) => stack.call(c.worker, "POST", c.path, { headers: { ...c.headers, ...(key === undefined ? {} : { "Idempotency-Key": key }) }, body });
      const key = `idem-${route.replace(/\W+/g, "-")}-${Date.now()}`;
      const untouched = await snapshot();

      // Act + assert: malformed keys change nothing
      for (const [name, malformed] of MALFORMED) {
        const refused = await send(c.bodies[0], malformed);
        assert.deepEqual([refused.status, refused.body?.code], [400, "invalid_idempotency_key"], `${name}: ${refused.text}`);
      }
      assert.deepEqual(await snapshot(), untouched, "a malformed key changed nothing");

      // the first request, its replay, and another body under the same key
      const first = await send(c.bodies[0], key);
      assert.equal(first.status, c.status, first.text);
      assert.equal(first.headers.get("idempotent-replayed"), null);
      await c.settle?.();
      const done = await snapshot();
      const replay = await send(c.bodies[0], key);
      const reused = await send(c.bodies[1], key);
      await c.settle?.();

      assert.equal(replay.status, c.status, replay.text);
      assert.equal(replay.headers.get("idempotent-replayed"), "true");
      assert.deepEqual(replay.body, first.body, "the replay answers the first answer");
      assert.deepEqual([reused.status, reused.body?.code], [422, "idempotency_key_reused"], reused.text);
      assert.deepEqual(await snapshot(), done, "neither the replay nor the reused key changed anything");
    });
  }
});
