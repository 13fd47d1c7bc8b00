// No access before money (issue 15, items 1, 6 and 7). A Checkout session can complete before
// it is paid — SEPA, ACH, Boleto, bank transfers settle days later — so only a session that is
// `paid` (or needs no payment) fulfils: the order, its entitlements, its stock and the plan.
// The sandbox's delayed method (`payment_method_type=sepa_debit`) completes a session unpaid;
// its `succeed_payment` / `fail_payment` controls settle it with Stripe's async events. A
// payment whose stock hold lapsed meanwhile never oversells, and a free trial is offered once
// per end user and project. Each test performs the attack and checks what did not change.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, signIn, uploadAsset } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks?session={CHECKOUT_SESSION_ID}";
const NO = "http://127.0.0.1:5173/cart";
const LATER = () => String(Date.now() + 48 * 60_000); // past a cart's 31 minutes and the 15-minute grace

let stack;
let dev;
let account;
let shop;
let app;
let counter = 0;

before(async () => {
  stack = await testStack();
  dev = await signIn(stack, "dev_payment_status");
  ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
  shop = await createProject(dev, { name: "Slow money shop", type: "store" });
  app = await createProject(dev, { name: "Slow money app", type: "saas" });
  for (const tier of [
    { name: "free", displayName: "Free", price: 0, limit: 3 },
    { name: "pro", displayName: "Pro", price: 900, limit: 100, trialDays: 14 },
    { name: "team", displayName: "Team", price: 2900, limit: 1000, trialDays: 14 },
    { name: "solo", displayName: "Solo", price: 500, limit: 50 },
  ]) {
    const res = await catalog("POST", `/v1/projects/${app.project.id}/tiers`, tier);
    assert.equal(res.status, 201, res.text);
  }
  const hooks = await stack.call("webhooks", "POST", `/v1/projects/${shop.project.id}/webhook-endpoints`, {
    headers: { Authorization: `Bearer ${dev.token}` },
    body: { url: "http://127.0.0.1:9/hooks", events: ["order.completed", "order.needs_attention", "entitlement.changed"] },
  });
  assert.equal(hooks.status, 201, hooks.text);
});
after(() => stack?.stop());

const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
const server = (project) => (method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { Authorization: `Bearer ${project.secretKey}`, ...headers }, ...rest });
const control = (path, form) => stripeApi(stack, "POST", `/_sandbox${path}`, { account, form });
const hold = () => stripeApi(stack, "POST", "/_sandbox/faults", { form: { path: "/_delivery/", status: "503", count: "20" } });
const unhold = () => stripeApi(stack, "DELETE", "/_sandbox/faults");
const sql = async (query, ...args) => (await stack.d1()).prepare(query).bind(...args).first();
const as = (user) => ({ "X-User-Id": user });

async function endUser(project) {
  const res = await server(project)("POST", "/api/customers", { body: { email: `slow${++counter}@example.test` } });
  assert.equal(res.status, 201, res.text);
  return res.body.data.id;
}

async function product(inventory, extra = {}) {
  const res = await catalog("POST", `/v1/projects/${shop.project.id}/products`, { name: `item-${++counter}`, displayName: "Item", price: 1500, inventory, ...extra });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

/** A signed-in buyer's cart of `quantity` units of `item`. */
async function cart(item, quantity = 1, user) {
  const buyer = user ?? (await endUser(shop));
  const res = await server(shop)("POST", "/api/cart/checkout", { headers: as(buyer), body: { items: [{ productId: item.id, quantity }], successUrl: OK, cancelUrl: NO } });
  assert.equal(res.status, 200, res.text);
  return { ...res.body, user: buyer };
}

/** What the buyer holds and what the order, its session and its product say. */
async function state({ sessionId, orderId, user }, item) {
  const entitlements = await server(shop)("GET", "/api/entitlements", { headers: as(user) });
  assert.equal(entitlements.status, 200, entitlements.text);
  const held = await sql("SELECT COALESCE(SUM(quantity), 0) AS n FROM inventory_reservations WHERE order_id = ?1 AND status = 'held'", orderId);
  const deliveries = await sql(
    "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE project_id = ?1 AND event_type = 'order.completed' AND json_extract(payload, '$.data.id') = ?2",
    shop.project.id,
    orderId,
  );
  return {
    order: (await sql("SELECT status FROM orders WHERE id = ?1", orderId)).status,
    session: (await sql("SELECT status FROM checkout_sessions WHERE id = ?1", sessionId)).status,
    entitlements: entitlements.body.data.filter((e) => e.orderId === orderId).length,
    held: held.n,
    stock: (await sql("SELECT inventory FROM products WHERE id = ?1", item.id)).inventory,
    orderCompleted: deliveries.n,
  };
}

describe("a cart paid by a delayed method", () => {
  test("completes unpaid and grants nothing — no entitlement, no download, stock still held — until the payment succeeds", async () => {
    const file = await uploadAsset(stack, shop, Buffer.from("%PDF-1.7 the paid-for guide"), { filename: "guide.pdf", visibility: "private" });
    const item = await product(5, { assetId: file.id });
    const bought = await cart(item, 2);
    const download = () => server(shop)("POST", "/api/downloads", { headers: as(bought.user), body: { productId: item.id } });

    const completed = await control(`/checkout/sessions/${bought.sessionId}/complete`, { payment_method_type: "sepa_debit" });

    assert.equal(completed.status, 200, JSON.stringify(completed.body));
    assert.deepEqual([completed.body.status, completed.body.payment_status], ["complete", "unpaid"]);
    assert.deepEqual(await state(bought, item), { order: "awaiting_payment", session: "awaiting_payment", entitlements: 0, held: 2, stock: 3, orderCompleted: 0 });
    const early = await download();
    assert.deepEqual([early.status, early.body.code], [403, "entitlement_required"], "no download before the money");
    const status = await stack.call("api", "GET", `/api/checkout/${bought.sessionId}`, { headers: { "X-Publishable-Key": shop.project.publishableKey } });
    assert.deepEqual([status.body.status, status.body.paid], ["pending_payment", false]);
    // A lazy release after the session's expiry must not give away stock that is being paid for.
    const other = await server(shop)("POST", "/api/cart/checkout", { headers: { "X-Tollgate-Dev-Now": LATER() }, body: { items: [{ productId: "prd_unknown" }], successUrl: OK, cancelUrl: NO } });
    assert.equal(other.status, 422);
    assert.equal((await state(bought, item)).held, 2);

    const settled = await control(`/checkout/sessions/${bought.sessionId}/succeed_payment`);

    assert.equal(settled.status, 200, JSON.stringify(settled.body));
    assert.equal(settled.body.payment_status, "paid");
    assert.deepEqual(await state(bought, item), { order: "paid", session: "complete", entitlements: 1, held: 0, stock: 3, orderCompleted: 1 });
    assert.equal((await download()).status, 200, "the download opens once paid");
  });

  test("whose payment fails gives its stock back and marks the order failed, having granted nothing", async () => {
    const item = await product(4);
    const bought = await cart(item, 3);
    await control(`/checkout/sessions/${bought.sessionId}/complete`, { payment_method_type: "sepa_debit" });

    const failed = await control(`/checkout/sessions/${bought.sessionId}/fail_payment`);

    assert.equal(failed.status, 200, JSON.stringify(failed.body));
    assert.deepEqual(await state(bought, item), { order: "failed", session: "failed", entitlements: 0, held: 0, stock: 4, orderCompleted: 0 });
    const again = await control(`/checkout/sessions/${bought.sessionId}/succeed_payment`);
    assert.equal(again.status, 400, "a failed payment cannot succeed later");
    const reconciled = await server(shop)("POST", `/api/checkout/${bought.sessionId}/reconcile`);
    assert.deepEqual([reconciled.body.data.status, reconciled.body.data.applied, reconciled.body.data.order.entitlements], ["failed", false, []]);
  });

  test("reconciles to pending_payment and grants nothing, then applies once the money is in", async () => {
    const item = await product(5);
    const bought = await cart(item);
    await hold();
    await control(`/checkout/sessions/${bought.sessionId}/complete`, { payment_method_type: "sepa_debit" });
    await unhold();

    const pending = await server(shop)("POST", `/api/checkout/${bought.sessionId}/reconcile`);

    assert.equal(pending.status, 200, pending.text);
    assert.deepEqual(pending.body.data, {
      sessionId: bought.sessionId,
      status: "pending_payment",
      mode: "payment",
      applied: false,
      order: { id: bought.orderId, status: "pending", entitlements: [] },
    });
    assert.deepEqual(await state(bought, item), { order: "pending", session: "open", entitlements: 0, held: 1, stock: 4, orderCompleted: 0 });
    assert.equal(await sql("SELECT id FROM stripe_events WHERE id = ?1", `evt_reconcile_${bought.sessionId}`), null);

    await hold();
    await control(`/checkout/sessions/${bought.sessionId}/succeed_payment`);
    await unhold();
    const paid = await server(shop)("POST", `/api/checkout/${bought.sessionId}/reconcile`);

    assert.deepEqual([paid.body.data.status, paid.body.data.applied, paid.body.data.order.status], ["complete", true, "paid"]);
    assert.deepEqual(await state(bought, item), { order: "paid", session: "complete", entitlements: 1, held: 0, stock: 4, orderCompleted: 1 });
  });
});

describe("a payment whose stock hold lapsed", () => {
  /** A cart paid on Stripe with its webhooks held back, then its hold released lazily by the next cart. */
  async function lapsed(item, { quantity = 1, next = [{ productId: "prd_unknown" }] } = {}) {
    const bought = await cart(item, quantity);
    const since = Math.floor(Date.now() / 1000) - 1;
    await hold();
    await control(`/checkout/sessions/${bought.sessionId}/complete`);
    await unhold();
    const later = await server(shop)("POST", "/api/cart/checkout", { headers: { "X-Tollgate-Dev-Now": LATER() }, body: { items: next, successUrl: OK, cancelUrl: NO } });
    const events = await stripeApi(stack, "GET", "/v1/events?limit=100", { account });
    const completed = events.body.data.find((e) => e.type === "checkout.session.completed" && e.data.object.id === bought.sessionId && e.created >= since);
    assert.ok(completed, "the sandbox made the completion event");
    return { bought, later, completed };
  }

  test("takes its stock again when the stock is still there", async () => {
    const item = await product(3);
    const { bought, completed } = await lapsed(item, { quantity: 2 });
    assert.deepEqual(await state(bought, item), { order: "expired", session: "expired", entitlements: 0, held: 0, stock: 3, orderCompleted: 0 });

    const replay = await control(`/events/${completed.id}/replay`);

    assert.equal(replay.status, 200, JSON.stringify(replay.body));
    assert.deepEqual(await state(bought, item), { order: "paid", session: "complete", entitlements: 1, held: 0, stock: 1, orderCompleted: 1 });
  });

  test("whose stock went to another buyer needs attention: nothing granted, stock never negative, the developer told", async () => {
    const item = await product(1);
    const { bought, later, completed } = await lapsed(item, { next: [{ productId: item.id }] });
    assert.equal(later.status, 200, `the next buyer got the released unit: ${later.text}`);
    assert.equal((await state(bought, item)).stock, 0);

    const replay = await control(`/events/${completed.id}/replay`);

    assert.equal(replay.status, 200, JSON.stringify(replay.body));
    assert.deepEqual(await state(bought, item), { order: "needs_attention", session: "complete", entitlements: 0, held: 0, stock: 0, orderCompleted: 0 });
    assert.equal((await sql("SELECT COUNT(*) AS n FROM inventory_reservations WHERE order_id = ?1 AND status = 'committed'", bought.orderId)).n, 0);
    const notice = await sql("SELECT payload FROM webhook_deliveries WHERE project_id = ?1 AND event_type = 'order.needs_attention'", shop.project.id);
    assert.ok(notice, "order.needs_attention was queued");
    const data = JSON.parse(notice.payload).data;
    assert.deepEqual([data.id, data.status, data.unavailable], [bought.orderId, "needs_attention", [item.name]]);
    const dashboard = await dev.call("GET", `/v1/projects/${shop.project.id}/dashboard`);
    assert.equal(dashboard.status, 200, dashboard.text);
    assert.equal(dashboard.body.data.store.needsAttention, 1);
    const again = await control(`/events/${completed.id}/replay`);
    assert.equal(again.status, 200);
    assert.equal((await state(bought, item)).stock, 0, "a second delivery changes nothing");
  });
});

describe("a subscription paid by a delayed method", () => {
  test("raises no plan until its first invoice is paid", async () => {
    const user = await endUser(app);
    const started = await server(app)("POST", "/api/create-checkout", { headers: as(user), body: { tier: "solo", successUrl: OK, cancelUrl: NO } });
    assert.equal(started.status, 200, started.text);

    await control(`/checkout/sessions/${started.body.sessionId}/complete`, { payment_method_type: "sepa_debit" });

    const usage = async () => (await server(app)("GET", "/api/usage", { headers: as(user) })).body.plan;
    assert.equal(await usage(), "free");
    assert.equal((await sql("SELECT status FROM checkout_sessions WHERE id = ?1", started.body.sessionId)).status, "awaiting_payment");
    assert.equal((await sql("SELECT status FROM subscriptions WHERE end_user_id = ?1", user)).status, "incomplete");
    const reconciled = await server(app)("POST", `/api/checkout/${started.body.sessionId}/reconcile`);
    assert.deepEqual([reconciled.body.data.status, reconciled.body.data.applied, reconciled.body.data.plan], ["pending_payment", false, "free"]);

    await control(`/checkout/sessions/${started.body.sessionId}/succeed_payment`);

    assert.equal(await usage(), "solo");
    assert.equal((await sql("SELECT status FROM checkout_sessions WHERE id = ?1", started.body.sessionId)).status, "complete");
  });
});

describe("free trials", () => {
  /** Opens a checkout for `tier`, pays it, and answers the Stripe subscription's status. */
  async function subscribe(user, tier) {
    const started = await server(app)("POST", "/api/create-checkout", { headers: as(user), body: { tier, successUrl: OK, cancelUrl: NO } });
    assert.equal(started.status, 200, started.text);
    const paid = await control(`/checkout/sessions/${started.body.sessionId}/complete`);
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    return (await stripeApi(stack, "GET", `/v1/subscriptions/${paid.body.subscription}`, { account })).body.status;
  }

  test("are offered once per end user: a second checkout, even of another tier, gets no trial days", async () => {
    const user = await endUser(app);

    const first = await subscribe(user, "pro");
    const second = await subscribe(user, "team");

    assert.deepEqual([first, second], ["trialing", "active"]);
    const claims = await sql("SELECT COUNT(*) AS n FROM trial_claims WHERE project_id = ?1 AND end_user_id = ?2", app.project.id, user);
    assert.equal(claims.n, 1);
  });

  test("two checkouts opened at once offer one trial between them", async () => {
    const user = await endUser(app);
    const open = (tier) => server(app)("POST", "/api/create-checkout", { headers: as(user), body: { tier, successUrl: OK, cancelUrl: NO } });

    const sessions = await Promise.all([open("pro"), open("team")]);

    const statuses = [];
    for (const started of sessions) {
      assert.equal(started.status, 200, started.text);
      const paid = await control(`/checkout/sessions/${started.body.sessionId}/complete`);
      statuses.push((await stripeApi(stack, "GET", `/v1/subscriptions/${paid.body.subscription}`, { account })).body.status);
    }
    assert.deepEqual(statuses.sort(), ["active", "trialing"]);
  });

  test("a trial checkout that expired unpaid gives the trial back", async () => {
    const user = await endUser(app);
    const abandoned = await server(app)("POST", "/api/create-checkout", { headers: as(user), body: { tier: "pro", successUrl: OK, cancelUrl: NO } });
    const expired = await control(`/checkout/sessions/${abandoned.body.sessionId}/expire`);
    assert.equal(expired.status, 200, JSON.stringify(expired.body));

    assert.equal(await subscribe(user, "pro"), "trialing");
  });
});
