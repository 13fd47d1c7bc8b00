// Refunds and disputes take access back. A buyer pays for a product with a private file
// through the Stripe sandbox; refunds and disputes made there reach the webhooks worker as
// Stripe's signed events: a full refund or an opened dispute stops an already-issued
// download link at once and marks the order, a won dispute restores access, a lost one does
// not, a partial refund is recorded and changes no access, the dashboard's revenue nets
// refunds, and an event delivered again changes nothing.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { devSecrets } from "../scripts/stack.mjs";
import { createProject, signIn, uploadAsset } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks?session={CHECKOUT_SESSION_ID}";
const NO = "http://127.0.0.1:5173/cart";
const FILE = Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(512, 0x41)]);

let stack;
let dev;
let account;
let shop;
let product;
let counter = 0;

const db = () => stack.d1();
const server = (method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { Authorization: `Bearer ${shop.secretKey}`, ...headers }, ...rest });
const sandbox = (method, path, form) => stripeApi(stack, method, path, { account, form });

async function endUser() {
  const res = await server("POST", "/api/customers", { body: { email: `refund${++counter}@example.test` } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

/** Pays for the product as `user`; returns the order, its entitlement and its charge. */
async function buy(user) {
  const cart = await server("POST", "/api/cart/checkout", { headers: { "X-User-Id": user.id }, body: { items: [{ productId: product.id }], successUrl: OK, cancelUrl: NO } });
  assert.equal(cart.status, 200, cart.text);
  const paid = await sandbox("POST", `/_sandbox/checkout/sessions/${cart.body.sessionId}/complete`);
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
  const row = await (await db()).prepare("SELECT o.stripe_payment_intent_id AS pi, e.id AS ent FROM orders o JOIN entitlements e ON e.order_id = o.id WHERE o.id = ?1").bind(cart.body.orderId).first();
  const intent = await sandbox("GET", `/v1/payment_intents/${row.pi}`);
  assert.match(intent.body.latest_charge ?? "", /^ch_/);
  return { orderId: cart.body.orderId, sessionId: cart.body.sessionId, entitlement: row.ent, charge: intent.body.latest_charge, intent: row.pi };
}

/** A download link issued now for `user`, and a fetch of it. */
async function link(user) {
  const issued = await server("POST", "/api/downloads", { headers: { "X-User-Id": user.id }, body: { productId: product.id } });
  assert.equal(issued.status, 200, issued.text);
  return issued.body.data.url;
}
const fetchStatus = async (url) => {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status;
};

const order = (id) => db().then((d) => d.prepare("SELECT status, amount_total, amount_refunded, stripe_charge_id, dispute_status FROM orders WHERE id = ?1").bind(id).first());
const entitlement = (id) => db().then((d) => d.prepare("SELECT status, revoked_by FROM entitlements WHERE id = ?1").bind(id).first());
/** The developer events queued for the order, as `[type, data]`, oldest first. */
async function notices(orderId) {
  const { results } = await (await db()).prepare("SELECT event_type, payload FROM webhook_deliveries WHERE project_id = ?1 ORDER BY created_at, event_type").bind(shop.project.id).all();
  return results.map((r) => [r.event_type, JSON.parse(r.payload).data]).filter(([, data]) => (data.orderId ?? data.id) === orderId);
}
const revenue = async () => (await dev.call("GET", `/v1/projects/${shop.project.id}/dashboard`)).body.data.store.revenue;
const stripeEvent = (id) => db().then((d) => d.prepare("SELECT type, outcome FROM stripe_events WHERE id = ?1").bind(id).first());
/** Delivers `event` to the webhooks worker signed as Stripe would sign it. */
function deliver(event) {
  const body = JSON.stringify(event);
  const at = Math.floor(Date.now() / 1000);
  const key = devSecrets(stack.dir).STRIPE_WEBHOOK_SECRET;
  const signature = `t=${at},v1=${createHmac("sha256", key).update(`${at}.${body}`).digest("hex")}`;
  return stack.call("webhooks", "POST", "/webhook/stripe", { headers: { "Stripe-Signature": signature }, body });
}
/** The newest sandbox event of `type` on the account. */
const lastEvent = async (type) => (await sandbox("GET", `/v1/events?type=${type}&limit=1`)).body.data[0];

before(async () => {
  stack = await testStack();
  dev = await signIn(stack, "dev_refunds");
  ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
  shop = await createProject(dev, { name: "Refund shop", type: "store" });
  const asset = await uploadAsset(stack, shop, FILE, { filename: "guide.pdf", visibility: "private" });
  const created = await stack.call("catalog", "POST", `/v1/projects/${shop.project.id}/products`, {
    headers: { Authorization: `Bearer ${dev.token}` },
    body: { name: "guide", displayName: "The guide", price: 1500, assetId: asset.id },
  });
  assert.equal(created.status, 201, created.text);
  product = created.body.data;
  const hook = await stack.call("webhooks", "POST", `/v1/projects/${shop.project.id}/webhook-endpoints`, {
    headers: { Authorization: `Bearer ${dev.token}` },
    body: { url: "http://127.0.0.1:9/hooks", events: ["order.refunded", "entitlement.changed"] },
  });
  assert.equal(hook.status, 201, hook.text);
});
after(() => stack?.stop());

describe("a refund", () => {
  test("a full refund stops an issued download link at once, marks the order refunded and tells the developer", async () => {
    const buyer = await endUser();
    const bought = await buy(buyer);
    const url = await link(buyer);
    const before = await fetchStatus(url);

    const refund = await sandbox("POST", "/v1/refunds", { charge: bought.charge });

    assert.equal(before, 200);
    assert.deepEqual([refund.status, refund.body.amount, refund.body.status], [200, 1500, "succeeded"]);
    assert.equal(await fetchStatus(url), 403, "the link issued before the refund no longer downloads");
    const again = await server("POST", "/api/downloads", { headers: { "X-User-Id": buyer.id }, body: { productId: product.id } });
    assert.deepEqual([again.status, again.body.code], [403, "entitlement_required"]);
    assert.deepEqual(await order(bought.orderId), { status: "refunded", amount_total: 1500, amount_refunded: 1500, stripe_charge_id: bought.charge, dispute_status: null });
    assert.deepEqual(await entitlement(bought.entitlement), { status: "revoked", revoked_by: "refund" });
    const shown = await server("POST", `/api/checkout/${bought.sessionId}/reconcile`, { headers: { "X-User-Id": buyer.id } });
    assert.deepEqual(shown.body.data.order, { id: bought.orderId, status: "refunded", entitlements: [] });
    const told = await notices(bought.orderId);
    const refunded = told.find(([type]) => type === "order.refunded")?.[1];
    const revoked = told.find(([type, data]) => type === "entitlement.changed" && data.change === "revoked")?.[1];
    assert.deepEqual([refunded?.status, refunded?.amountRefunded, refunded?.full], ["refunded", 1500, true]);
    assert.deepEqual([revoked?.reason, revoked?.productIds], ["refund", [product.id]]);
  });

  test("a partial refund is recorded, changes no access, and the dashboard's revenue nets it", async () => {
    const buyer = await endUser();
    const bought = await buy(buyer);
    const url = await link(buyer);
    const gross = await revenue();

    const refund = await sandbox("POST", "/v1/refunds", { payment_intent: bought.intent, amount: "400" });

    assert.deepEqual([refund.status, refund.body.amount], [200, 400]);
    assert.equal(await fetchStatus(url), 200, "the link still downloads");
    assert.deepEqual(await order(bought.orderId), { status: "paid", amount_total: 1500, amount_refunded: 400, stripe_charge_id: bought.charge, dispute_status: null });
    assert.deepEqual(await entitlement(bought.entitlement), { status: "active", revoked_by: null });
    const told = await notices(bought.orderId);
    assert.deepEqual(told.map(([type, data]) => [type, data.change]), [["entitlement.changed", "granted"], ["order.refunded", undefined]]);
    assert.deepEqual([told[1][1].amountRefunded, told[1][1].full, told[1][1].status], [400, false, "paid"]);
    assert.deepEqual(await revenue(), gross.map((r) => (r.currency === "usd" ? { ...r, amount: r.amount - 400 } : r)));
  });

  test("a refund event delivered again, or repeated with the same total, changes nothing", async () => {
    const buyer = await endUser();
    const bought = await buy(buyer);
    await sandbox("POST", "/v1/refunds", { charge: bought.charge, amount: "500" });
    const event = await lastEvent("charge.refunded");
    const state = [await order(bought.orderId), await entitlement(bought.entitlement), await notices(bought.orderId), await revenue()];

    const replayed = await sandbox("POST", `/_sandbox/events/${event.id}/replay`);
    const resent = await deliver({ ...event, id: `${event.id}copy` });

    assert.equal(replayed.status, 200, JSON.stringify(replayed.body));
    assert.deepEqual([resent.status, resent.body.outcome], [200, "stale"]);
    assert.deepEqual(await stripeEvent(event.id), { type: "charge.refunded", outcome: "applied" });
    assert.deepEqual([await order(bought.orderId), await entitlement(bought.entitlement), await notices(bought.orderId), await revenue()], state);
  });

  test("the sandbox refuses a refund larger than what is left, and nothing changes", async () => {
    const buyer = await endUser();
    const bought = await buy(buyer);
    await sandbox("POST", "/v1/refunds", { charge: bought.charge, amount: "1000" });

    const refused = await sandbox("POST", "/v1/refunds", { charge: bought.charge, amount: "501" });

    assert.deepEqual([refused.status, refused.body.error?.code], [400, "amount_too_large"]);
    assert.deepEqual(await order(bought.orderId), { status: "paid", amount_total: 1500, amount_refunded: 1000, stripe_charge_id: bought.charge, dispute_status: null });
  });
});

describe("a dispute", () => {
  test("an opened dispute revokes access at once and a won dispute restores it", async () => {
    const buyer = await endUser();
    const bought = await buy(buyer);
    const url = await link(buyer);

    const opened = await sandbox("POST", `/_sandbox/charges/${bought.charge}/dispute`);
    const during = [await fetchStatus(url), await order(bought.orderId), await entitlement(bought.entitlement)];
    const closed = await sandbox("POST", `/_sandbox/disputes/${opened.body.id}/close`, { status: "won" });

    assert.deepEqual([opened.status, opened.body.status], [200, "needs_response"]);
    assert.deepEqual(during, [403, { status: "disputed", amount_total: 1500, amount_refunded: 0, stripe_charge_id: bought.charge, dispute_status: "open" }, { status: "revoked", revoked_by: "dispute" }]);
    assert.deepEqual([closed.status, closed.body.status], [200, "won"]);
    assert.equal((await order(bought.orderId)).status, "paid");
    assert.equal((await order(bought.orderId)).dispute_status, "won");
    assert.deepEqual(await entitlement(bought.entitlement), { status: "active", revoked_by: null });
    assert.equal(await fetchStatus(await link(buyer)), 200, "a new link downloads again");
    const changes = (await notices(bought.orderId)).filter(([type]) => type === "entitlement.changed").map(([, d]) => [d.change, d.reason]);
    assert.deepEqual(changes, [["granted", undefined], ["revoked", "dispute"], ["granted", "dispute_won"]]);
  });

  test("a lost dispute keeps access revoked, and a late opening never reopens it", async () => {
    const buyer = await endUser();
    const bought = await buy(buyer);
    const opened = await sandbox("POST", `/_sandbox/charges/${bought.charge}/dispute`);
    const created = await lastEvent("charge.dispute.created");

    await sandbox("POST", `/_sandbox/disputes/${opened.body.id}/close`, { status: "lost" });
    const late = await deliver({ ...created, id: `${created.id}late` });

    assert.deepEqual([late.status, late.body.outcome], [200, "stale"]);
    assert.deepEqual(await order(bought.orderId), { status: "disputed", amount_total: 1500, amount_refunded: 0, stripe_charge_id: bought.charge, dispute_status: "lost" });
    assert.deepEqual(await entitlement(bought.entitlement), { status: "revoked", revoked_by: "dispute" });
    const download = await server("POST", "/api/downloads", { headers: { "X-User-Id": buyer.id }, body: { productId: product.id } });
    assert.deepEqual([download.status, download.body.code], [403, "entitlement_required"]);
    const refund = await sandbox("POST", "/v1/refunds", { charge: bought.charge });
    assert.deepEqual([refund.status, refund.body.error?.code], [400, "charge_disputed"]);
  });

  test("a refund event from another account reaches no order of this platform", async () => {
    const buyer = await endUser();
    const bought = await buy(buyer);
    const rival = await signIn(stack, "dev_refunds_rival");
    const { connection } = await connectStripe(stack, rival, "test");
    const forged = await lastEvent("charge.refunded");
    const event = { ...forged, id: `evt_forged${Date.now()}`, account: connection.accountId, data: { object: { ...forged.data.object, id: bought.charge, payment_intent: bought.intent, amount_refunded: 1500, refunded: true } } };

    const res = await deliver(event);

    assert.deepEqual([res.status, res.body.outcome], [200, "unrelated"]);
    assert.deepEqual(await order(bought.orderId), { status: "paid", amount_total: 1500, amount_refunded: 0, stripe_charge_id: null, dispute_status: null });
    assert.deepEqual(await entitlement(bought.entitlement), { status: "active", revoked_by: null });
  });
});

describe("a subscription's charge", () => {
  let app;
  const api = (method, path, { headers = {}, ...rest } = {}) =>
    stack.call("api", method, path, { headers: { Authorization: `Bearer ${app.secretKey}`, ...headers }, ...rest });
  const planOf = async (user) => (await api("GET", "/api/usage", { headers: { "X-User-Id": user } })).body.plan;
  const audited = async (action) => {
    const { results } = await (await db()).prepare("SELECT actor, target_id, metadata FROM audit_events WHERE project_id = ?1 AND action = ?2").bind(app.project.id, action).all();
    return results.map((r) => ({ ...r, metadata: JSON.parse(r.metadata) }));
  };

  /** An end user on the paid tier through checkout; returns them, their subscription and its first charge. */
  async function subscriber() {
    const res = await api("POST", "/api/customers", { body: { email: `sub${++counter}@example.test` } });
    assert.equal(res.status, 201, res.text);
    const user = res.body.data.id;
    const checkout = await api("POST", "/api/create-checkout", { headers: { "X-User-Id": user }, body: { tier: "pro", successUrl: OK, cancelUrl: NO } });
    assert.equal(checkout.status, 200, checkout.text);
    assert.equal((await sandbox("POST", `/_sandbox/checkout/sessions/${checkout.body.sessionId}/complete`)).status, 200);
    const session = (await sandbox("GET", `/v1/checkout/sessions/${checkout.body.sessionId}`)).body;
    const charges = (await sandbox("GET", `/v1/charges?customer=${session.customer}`)).body.data;
    assert.deepEqual(charges.map((c) => [c.amount, c.status, c.description]), [[900, "succeeded", "Subscription creation"]]);
    return { user, subscription: session.subscription, charge: charges[0].id };
  }

  before(async () => {
    app = await createProject(dev, { name: "Refunded plans", type: "saas" });
    for (const tier of [
      { name: "free", displayName: "Free", price: 0, limit: 3 },
      { name: "pro", displayName: "Pro", price: 900, limit: 100 },
    ]) {
      const res = await stack.call("catalog", "POST", `/v1/projects/${app.project.id}/tiers`, { headers: { Authorization: `Bearer ${dev.token}` }, body: tier });
      assert.equal(res.status, 201, res.text);
    }
  });

  test("a full refund of a subscription's charge is traced to it, audited, and leaves the plan to the subscription's status", async () => {
    const { user, subscription, charge } = await subscriber();

    const refund = await sandbox("POST", "/v1/refunds", { charge });

    assert.deepEqual([refund.status, refund.body.amount], [200, 900]);
    const event = await lastEvent("charge.refunded");
    assert.equal(event.data.object.id, charge);
    assert.deepEqual(await stripeEvent(event.id), { type: "charge.refunded", outcome: "applied" });
    const [entry, ...more] = await audited("subscription.charge_refunded");
    assert.deepEqual(more, []);
    assert.deepEqual([entry.actor, entry.target_id], ["stripe", subscription]);
    assert.deepEqual([entry.metadata.chargeId, entry.metadata.amount, entry.metadata.amountRefunded, entry.metadata.subscriptionStatus], [charge, 900, 900, "active"]);
    assert.equal(await planOf(user), "pro", "the subscription is still active at Stripe, so its plan stands");
  });

  test("a dispute on a subscription's charge is audited when it opens and when it closes, and the plan stands", async () => {
    const { user, subscription, charge } = await subscriber();

    const opened = await sandbox("POST", `/_sandbox/charges/${charge}/dispute`);
    const closed = await sandbox("POST", `/_sandbox/disputes/${opened.body.id}/close`, { status: "lost" });

    assert.deepEqual([opened.status, closed.status], [200, 200]);
    const [open] = await audited("subscription.disputed");
    const [close] = await audited("subscription.dispute_closed");
    assert.deepEqual([open?.target_id, open?.metadata.chargeId, open?.metadata.disputeStatus], [subscription, charge, "needs_response"]);
    assert.deepEqual([close?.target_id, close?.metadata.disputeStatus], [subscription, "lost"]);
    assert.equal(await planOf(user), "pro");
  });

  test("a charge of another account's customer reaches no subscription of this platform", async () => {
    const { user, charge } = await subscriber();
    const rival = await signIn(stack, "dev_refunds_rival_subs");
    const { connection } = await connectStripe(stack, rival, "test");
    const real = await lastEvent("charge.refunded");
    const forged = { ...real, id: `evt_forgedsub${Date.now()}`, account: connection.accountId, data: { object: { ...real.data.object, id: charge, amount_refunded: 900, refunded: true } } };
    const before = (await audited("subscription.charge_refunded")).length;

    const res = await deliver(forged);

    assert.deepEqual([res.status, res.body.outcome], [200, "unrelated"]);
    assert.equal((await audited("subscription.charge_refunded")).length, before);
    assert.equal(await planOf(user), "pro");
  });
});
