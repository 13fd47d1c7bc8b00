// Subscription management on the api worker: read, cancel, resume and change the end user's
// plan through Stripe's subscription update on the connected account — the route answers
// with Stripe's state, and the plan and limit change only when the webhook is applied. An
// upgrade grants its limit only once its invoice is paid; a downgrade waits for the renewal.
// Arranged on the Stripe sandbox, which delivers every event to the local stack before it
// answers (or holds one back with a delivery fault).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks?session={CHECKOUT_SESSION_ID}";
const NO = "http://127.0.0.1:5173/plans";

let stack;
let dev;
let account;
let app;
let counter = 0;

before(async () => {
  stack = await testStack();
  dev = await signIn(stack, "dev_subscriptions");
  ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
  const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
  app = await createProject(dev, { name: "Plans", type: "saas" });
  const tiers = [
    { name: "free", displayName: "Free", price: 0, limit: 3 },
    { name: "pro", displayName: "Pro", price: 900, limit: 100 },
    { name: "team", displayName: "Team", price: 2900, limit: 1000 },
    { name: "old", displayName: "Old", price: 500, limit: 50 },
  ];
  let old;
  for (const tier of tiers) {
    const res = await catalog("POST", `/v1/projects/${app.project.id}/tiers`, tier);
    assert.equal(res.status, 201, res.text);
    old = res.body.data;
  }
  const archived = await catalog("POST", `/v1/projects/${app.project.id}/tiers/${old.id}/archive`, { updatedAt: old.updatedAt });
  assert.equal(archived.status, 200, archived.text);
});
after(() => stack?.stop());

const server = (method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { Authorization: `Bearer ${app.secretKey}`, ...headers }, ...rest });
const browser = (method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { "X-Publishable-Key": app.project.publishableKey, ...headers }, ...rest });
const control = (path, form) => stripeApi(stack, "POST", `/_sandbox${path}`, { account, form });
const fault = (form) => stripeApi(stack, "POST", "/_sandbox/faults", { form });
const as = (user) => ({ "X-User-Id": user });
const usage = async (user) => (await server("GET", "/api/usage", { headers: as(user) })).body;
const held = async (user) => (await server("GET", "/api/subscription", { headers: as(user) })).body.data;

/** A new end user. */
async function endUser() {
  const res = await server("POST", "/api/customers", { body: { email: `s${++counter}@example.test` } });
  assert.equal(res.status, 201, res.text);
  return res.body.data.id;
}

/** An end user who bought `tier` through checkout and the sandbox's Pay. */
async function subscriber(tier = "pro") {
  const user = await endUser();
  const checkout = await server("POST", "/api/create-checkout", { headers: as(user), body: { tier, successUrl: OK, cancelUrl: NO } });
  assert.equal(checkout.status, 200, checkout.text);
  const paid = await control(`/checkout/sessions/${checkout.body.sessionId}/complete`);
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
  assert.equal((await usage(user)).plan, tier);
  return user;
}

describe("reading the subscription", () => {
  test("answers the tier, status, period, cancellation and next amount as last applied", async () => {
    const user = await subscriber();

    const res = await server("GET", "/api/subscription", { headers: as(user) });

    assert.equal(res.status, 200, res.text);
    const sub = res.body.data;
    assert.match(sub.subscriptionId, /^sub_/);
    assert.equal(sub.tier, "pro");
    assert.equal(sub.status, "active");
    assert.equal(sub.cancelAtPeriodEnd, false);
    assert.equal(sub.amount, 900);
    assert.equal(sub.currency, "usd");
    assert.equal(sub.interval, "month");
    assert.ok(sub.currentPeriodEnd > sub.currentPeriodStart);
  });

  test("an end user without a subscription gets 404 no_subscription on every route", async () => {
    const user = await endUser();
    for (const [method, path, body] of [
      ["GET", "/api/subscription"],
      ["POST", "/api/subscription/cancel", {}],
      ["POST", "/api/subscription/resume", {}],
      ["POST", "/api/subscription/change", { tier: "team" }],
    ]) {
      const res = await server(method, path, { headers: as(user), body });
      assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.code, "no_subscription");
    }
  });
});

describe("cancel and resume", () => {
  test("cancel → resume → cancel at period end → the period passes → back on the free tier", async () => {
    const user = await subscriber();

    const cancel = await server("POST", "/api/subscription/cancel", { headers: as(user) });
    assert.equal(cancel.status, 200, cancel.text);
    assert.equal(cancel.body.data.cancelAtPeriodEnd, true);
    assert.equal(cancel.body.data.status, "active");
    assert.equal((await held(user)).cancelAtPeriodEnd, true, "the webhook applied Stripe's answer");
    assert.equal((await usage(user)).plan, "pro", "the paid tier lasts until the period ends");

    const resume = await server("POST", "/api/subscription/resume", { headers: as(user), body: {} });
    assert.equal(resume.status, 200, resume.text);
    assert.equal(resume.body.data.cancelAtPeriodEnd, false);
    assert.equal((await held(user)).cancelAtPeriodEnd, false);

    const again = await server("POST", "/api/subscription/cancel", { headers: as(user), body: { immediately: false } });
    assert.equal(again.status, 200, again.text);
    const { subscriptionId } = await held(user);
    const advanced = await control(`/subscriptions/${subscriptionId}/advance`);
    assert.equal(advanced.status, 200, JSON.stringify(advanced.body));

    const after = await usage(user);
    assert.equal(after.plan, "free");
    assert.equal(after.limit, 3);
    const gone = await server("GET", "/api/subscription", { headers: as(user) });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.code, "no_subscription");
    const trail = await (await stack.d1())
      .prepare("SELECT action, actor FROM audit_events WHERE target_id = ?1 ORDER BY created_at, rowid")
      .bind(subscriptionId)
      .all();
    assert.deepEqual(
      trail.results.map((r) => r.action),
      ["subscription.cancel_requested", "subscription.resume_requested", "subscription.cancel_requested"],
    );
    assert.ok(trail.results.every((r) => r.actor.startsWith("key_")), "the secret key asked");
  });

  test("resume when the subscription is not set to cancel is 409 and changes nothing", async () => {
    const user = await subscriber();

    const res = await server("POST", "/api/subscription/resume", { headers: as(user) });

    assert.equal(res.status, 409, res.text);
    assert.equal(res.body.code, "subscription_not_canceling");
    assert.equal((await held(user)).cancelAtPeriodEnd, false);
  });

  test("an immediate cancel from the publishable lane is 403; from the server it ends the plan now", async () => {
    const user = await subscriber();
    const token = (await server("POST", "/api/customer-token", { body: { userId: user } })).body.data.token;

    const refused = await browser("POST", "/api/subscription/cancel", { headers: { "X-End-User-Token": token }, body: { immediately: true } });
    assert.equal(refused.status, 403, refused.text);
    assert.equal((await usage(user)).plan, "pro");

    const viaBrowser = await browser("GET", "/api/subscription", { headers: { "X-End-User-Token": token } });
    assert.equal(viaBrowser.status, 200, viaBrowser.text);
    assert.equal(viaBrowser.body.data.tier, "pro");

    const now = await server("POST", "/api/subscription/cancel", { headers: as(user), body: { immediately: true } });
    assert.equal(now.status, 200, now.text);
    assert.equal(now.body.data.status, "canceled");
    assert.equal((await usage(user)).plan, "free");
  });

  test("the same Idempotency-Key replays the answer and reaches Stripe once", async () => {
    const user = await subscriber();
    const headers = { ...as(user), "Idempotency-Key": `cancel-${counter}` };

    const first = await server("POST", "/api/subscription/cancel", { headers, body: {} });
    const second = await server("POST", "/api/subscription/cancel", { headers, body: {} });

    assert.equal(first.status, 200, first.text);
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.body, first.body);
    const { subscriptionId } = await held(user);
    const events = await stripeApi(stack, "GET", "/v1/events?type=customer.subscription.updated&limit=100", { account });
    const mine = events.body.data.filter((e) => e.data.object.id === subscriptionId && e.data.object.cancel_at_period_end === true);
    assert.equal(mine.length, 1, "one update on Stripe");
  });

  test("a replayed immediate cancel answers the same after the subscription ended; another end user's same key is theirs", async () => {
    const user = await subscriber();
    const other = await subscriber();
    const key = `end-${counter}`;
    const cancel = (who) => server("POST", "/api/subscription/cancel", { headers: { ...as(who), "Idempotency-Key": key }, body: { immediately: true } });

    const first = await cancel(user);
    const replay = await cancel(user);
    const theirs = await cancel(other);

    assert.equal(first.status, 200, first.text);
    assert.equal(replay.status, 200, replay.text);
    assert.deepEqual(replay.body, first.body);
    assert.equal(theirs.status, 200, theirs.text);
    assert.notEqual(theirs.body.data.subscriptionId, first.body.data.subscriptionId);
    assert.equal((await usage(other)).plan, "free");
  });

  test("bad bodies are refused and change nothing", async () => {
    const user = await subscriber();
    for (const body of ["{not json", { immediately: "yes" }, { later: true }]) {
      const res = await server("POST", "/api/subscription/cancel", { headers: as(user), body });
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    }
    assert.equal((await held(user)).cancelAtPeriodEnd, false);
  });
});

describe("changing tier", () => {
  test("an upgrade is invoiced at once, paid, and only then raises the plan and limit", async () => {
    const user = await subscriber("pro");

    const res = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "team" } });

    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.data.tier, "team");
    assert.equal(res.body.data.amount, 2900);
    assert.equal(res.body.data.change.status, "applied");
    assert.equal(res.body.data.change.tier, "team");
    const { subscriptionId } = await held(user);
    const live = (await stripeApi(stack, "GET", `/v1/subscriptions/${subscriptionId}?expand[]=latest_invoice`, { account })).body;
    assert.equal(live.pending_update, null);
    assert.equal(live.latest_invoice.billing_reason, "subscription_update");
    assert.equal(live.latest_invoice.status, "paid");
    assert.ok(live.latest_invoice.amount_paid > 0 && live.latest_invoice.amount_paid <= 2000, "the prorated difference");
    const kinds = (await stripeApi(stack, "GET", "/v1/events?limit=100", { account })).body.data
      .filter((e) => e.data.object.id === subscriptionId || e.data.object.subscription === subscriptionId)
      .map((e) => e.type)
      .reverse();
    assert.deepEqual(kinds.slice(-2), ["invoice.paid", "customer.subscription.updated"], "paid, then applied");
    const after = await usage(user);
    assert.equal(after.plan, "team");
    assert.equal(after.limit, 1000);
  });

  test("an upgrade whose payment fails keeps the old tier and limit, refuses usage past it, and lapses at renewal", async () => {
    const user = await subscriber("pro");
    const { subscriptionId, currentPeriodStart } = await held(user);
    const armed = await control(`/subscriptions/${subscriptionId}/fail_next_payment`);
    assert.equal(armed.status, 200, JSON.stringify(armed.body));

    const res = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "team" } });

    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.data.tier, "pro", "Stripe still bills the old price");
    assert.equal(res.body.data.change.status, "pending_payment");
    assert.equal(res.body.data.change.tier, "team");
    assert.ok(res.body.data.change.expiresAt > Date.now());
    const live = (await stripeApi(stack, "GET", `/v1/subscriptions/${subscriptionId}?expand[]=latest_invoice`, { account })).body;
    assert.equal(live.items.data[0].price.unit_amount, 900);
    assert.equal(live.pending_update.subscription_items[0].price.unit_amount, 2900);
    assert.equal(live.latest_invoice.status, "open");
    const row = await held(user);
    assert.equal(row.tier, "pro");
    assert.equal(row.status, "active", "an unpaid proration is not a missed renewal");
    assert.equal(row.currentPeriodStart, currentPeriodStart, "the usage period did not restart");
    const spent = await server("POST", "/api/data", { headers: as(user), body: { cost: 100 } });
    assert.equal(spent.status, 200, spent.text);
    const beyond = await server("POST", "/api/data", { headers: as(user), body: { cost: 1 } });
    assert.equal(beyond.status, 429, beyond.text);
    assert.equal(beyond.body.code, "usage_limit_reached");
    assert.equal((await usage(user)).limit, 100);

    const renewed = await control(`/subscriptions/${subscriptionId}/advance`);
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.equal(renewed.body.pending_update, null, "the unpaid change lapsed");
    assert.equal(renewed.body.items.data[0].price.unit_amount, 900);
    const next = await usage(user);
    assert.equal(next.plan, "pro");
    assert.equal(next.limit, 100);
  });

  test("an upgrade whose invoice is paid later raises the limit only then", async () => {
    const user = await subscriber("pro");
    const { subscriptionId } = await held(user);
    await control(`/subscriptions/${subscriptionId}/fail_next_payment`);
    const pending = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "team" } });
    assert.equal(pending.body.data.change.status, "pending_payment", pending.text);
    const invoice = (await stripeApi(stack, "GET", `/v1/subscriptions/${subscriptionId}`, { account })).body.latest_invoice;
    assert.equal((await usage(user)).limit, 100);

    const paid = await stripeApi(stack, "POST", `/v1/invoices/${invoice}/pay`, { account });

    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    assert.equal(paid.body.status, "paid");
    const after = await usage(user);
    assert.equal(after.plan, "team");
    assert.equal(after.limit, 1000);
  });

  test("a downgrade Stripe refuses leaves the limit; accepted, the paid limit lasts until the period ends, then drops", async () => {
    const user = await subscriber("team");
    await fault({ path: "/v1/subscriptions/", method: "POST", status: "402", code: "card_declined", message: "Your card was declined." });

    const refused = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "pro" } });

    assert.equal(refused.status, 402, refused.text);
    assert.equal((await usage(user)).limit, 1000);
    assert.equal((await held(user)).tier, "team");

    const accepted = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "pro" } });
    assert.equal(accepted.status, 200, accepted.text);
    assert.equal(accepted.body.data.change.status, "at_period_end");
    assert.equal(accepted.body.data.change.effectiveAt, accepted.body.data.currentPeriodEnd);
    const { subscriptionId } = await held(user);
    const invoices = (await stripeApi(stack, "GET", `/v1/invoices?subscription=${subscriptionId}`, { account })).body.data;
    assert.equal(invoices.length, 1, "nothing billed or refunded now");
    const during = await usage(user);
    assert.equal(during.plan, "team");
    assert.equal(during.limit, 1000);

    const renewed = await control(`/subscriptions/${subscriptionId}/advance`);
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    const after = await usage(user);
    assert.equal(after.plan, "pro");
    assert.equal(after.limit, 100);
  });

  test("going back to the paid tier during a scheduled downgrade bills nothing and keeps it past the renewal", async () => {
    const user = await subscriber("team");
    const down = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "pro" } });
    assert.equal(down.body.data.change.status, "at_period_end", down.text);

    const back = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "team" } });

    assert.equal(back.status, 200, back.text);
    assert.equal(back.body.data.change.status, "applied");
    const { subscriptionId } = await held(user);
    const invoices = (await stripeApi(stack, "GET", `/v1/invoices?subscription=${subscriptionId}`, { account })).body.data;
    assert.equal(invoices.length, 1, "no proration for a tier already paid");
    await control(`/subscriptions/${subscriptionId}/advance`);
    const after = await usage(user);
    assert.equal(after.plan, "team");
    assert.equal(after.limit, 1000);
  });

  test("while Stripe's answer is not applied yet the limit stays and a second change is 409 change_pending", async () => {
    const user = await subscriber("pro");
    await fault({ path: "/_delivery/customer.subscription.updated", status: "503" });

    const first = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "team" } });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.data.tier, "team", "Stripe's answer");
    assert.equal((await usage(user)).limit, 100, "not applied until the webhook is");

    const second = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "team" } });
    assert.equal(second.status, 409, second.text);
    assert.equal(second.body.code, "change_pending");
    const back = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "pro" } });
    assert.equal(back.status, 409, back.text);
    assert.equal(back.body.code, "change_pending");

    const { subscriptionId } = await held(user);
    const events = await stripeApi(stack, "GET", "/v1/events?type=customer.subscription.updated&limit=100", { account });
    const held_back = events.body.data.find((e) => e.data.object.id === subscriptionId);
    const replay = await control(`/events/${held_back.id}/replay`);
    assert.equal(replay.status, 200, JSON.stringify(replay.body));
    assert.equal((await usage(user)).limit, 1000, "applied once the webhook arrives");
  });

  test("changing to the current tier is 409; unknown, archived or free tiers are 422", async () => {
    const user = await subscriber("pro");

    const same = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "pro" } });
    assert.equal(same.status, 409, same.text);
    assert.equal(same.body.code, "already_subscribed");
    for (const tier of ["nope", "old", "free"]) {
      const res = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier } });
      assert.equal(res.status, 422, `${tier}: ${res.text}`);
      assert.ok(res.body.fieldErrors.tier, tier);
    }
    const missing = await server("POST", "/api/subscription/change", { headers: as(user), body: {} });
    assert.equal(missing.status, 422, missing.text);
    assert.ok(missing.body.fieldErrors.tier);
    const mixed = await server("POST", "/api/subscription/change", { headers: as(user), body: { tier: "team", immediately: true } });
    assert.equal(mixed.status, 422, mixed.text);
    assert.equal((await usage(user)).plan, "pro");
  });
});

describe("reconcile", () => {
  const hold = (count = 10) => fault({ path: "/_delivery/", status: "503", count: String(count) });
  const release = () => stripeApi(stack, "DELETE", "/_sandbox/faults");
  /** Every event the sandbox made on the account since `since` (Unix s), oldest first. */
  const eventsSince = async (since) => {
    const list = await stripeApi(stack, "GET", "/v1/events?limit=100", { account });
    return list.body.data.filter((e) => e.created >= since).reverse();
  };
  const eventRow = async (id) => (await stack.d1()).prepare("SELECT outcome FROM stripe_events WHERE id = ?1").bind(id).first();
  /** A pro subscription checkout paid on Stripe while its webhooks are held back; `since` (Unix s) precedes its events. */
  const paidWhileHeld = async (user) => {
    const checkout = await server("POST", "/api/create-checkout", { headers: as(user), body: { tier: "pro", successUrl: OK, cancelUrl: NO } });
    const sessionId = checkout.body.sessionId;
    const since = Math.floor(Date.now() / 1000) - 1;
    await hold();
    await control(`/checkout/sessions/${sessionId}/complete`);
    await release();
    return { sessionId, since };
  };

  test("a paid subscription session reconciled before its webhooks grants the plan once; the late webhooks change nothing", async () => {
    const user = await endUser();
    const { sessionId, since } = await paidWhileHeld(user);
    assert.equal((await usage(user)).plan, "free", "no webhook arrived");

    const minted = await server("POST", "/api/customer-token", { body: { userId: user } });
    const res = await browser("POST", `/api/checkout/${sessionId}/reconcile`, { headers: { "X-End-User-Token": minted.body.data.token } });

    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.data, { sessionId, status: "complete", mode: "subscription", applied: true, plan: "pro", limit: 100 });
    assert.equal((await usage(user)).plan, "pro");

    const again = await server("POST", `/api/checkout/${sessionId}/reconcile`);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.data.applied, false, "a second reconcile changes nothing");
    assert.equal(again.body.data.plan, "pro");

    const held = await eventsSince(since);
    const completed = held.find((e) => e.type === "checkout.session.completed" && e.data.object.id === sessionId);
    for (const event of held) {
      const replay = await control(`/events/${event.id}/replay`);
      assert.equal(replay.status, 200, JSON.stringify(replay.body));
    }
    assert.equal((await eventRow(completed.id)).outcome, "stale", "the late webhook is recorded without effects");
    const d = await stack.d1();
    const rows = await d.prepare("SELECT COUNT(*) AS n FROM subscriptions WHERE end_user_id = ?1").bind(user).first();
    assert.equal(rows.n, 1);
    const session = await d.prepare("SELECT status FROM checkout_sessions WHERE id = ?1").bind(sessionId).first();
    assert.equal(session.status, "complete");
    assert.equal((await usage(user)).limit, 100);
  });

  test("a paid cart reconciled before its webhook is paid once: one order, one entitlement, one outbound event", async () => {
    const shop = await createProject(dev, { name: "Shop", type: "store" });
    const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
    const made = await catalog("POST", `/v1/projects/${shop.project.id}/products`, { name: "ebook", displayName: "E-book", price: 1500, inventory: 5 });
    assert.equal(made.status, 201, made.text);
    const hooks = await stack.call("webhooks", "POST", `/v1/projects/${shop.project.id}/webhook-endpoints`, {
      headers: { Authorization: `Bearer ${dev.token}` },
      body: { url: "http://127.0.0.1:9/hooks", events: ["order.completed"] },
    });
    assert.equal(hooks.status, 201, hooks.text);
    const shopServer = (method, path, options = {}) =>
      stack.call("api", method, path, { ...options, headers: { Authorization: `Bearer ${shop.secretKey}`, ...(options.headers ?? {}) } });
    const cart = await shopServer("POST", "/api/cart/checkout", { body: { items: [{ productId: made.body.data.id, quantity: 2 }], successUrl: OK, cancelUrl: NO } });
    assert.equal(cart.status, 200, cart.text);
    const { sessionId, orderId } = cart.body;
    const since = Math.floor(Date.now() / 1000) - 1;
    await hold();
    await control(`/checkout/sessions/${sessionId}/complete`);
    await release();

    const res = await shopServer("POST", `/api/checkout/${sessionId}/reconcile`);

    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.data, {
      sessionId,
      status: "complete",
      mode: "payment",
      applied: true,
      order: { id: orderId, status: "paid", entitlements: [made.body.data.id] },
    });
    for (const event of await eventsSince(since)) await control(`/events/${event.id}/replay`);
    const d = await stack.d1();
    const count = async (sql) => (await d.prepare(sql).bind(orderId).first()).n;
    assert.equal(await count("SELECT COUNT(*) AS n FROM entitlements WHERE order_id = ?1"), 1);
    assert.equal(await count("SELECT COUNT(*) AS n FROM orders WHERE id = ?1 AND status = 'paid'"), 1);
    const outbound = await d.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE project_id = ?1 AND event_type = 'order.completed'").bind(shop.project.id).first();
    assert.equal(outbound.n, 1);
    const stock = await d.prepare("SELECT inventory FROM products WHERE id = ?1").bind(made.body.data.id).first();
    assert.equal(stock.inventory, 3);
    // Two applications racing past the status check: the second batch's completion aborts it whole.
    await assert.rejects(
      d.batch([
        d.prepare("UPDATE checkout_sessions SET status = 'complete' WHERE id = ?1").bind(sessionId),
        d.prepare("UPDATE orders SET amount_total = 0 WHERE id = ?1").bind(orderId),
      ]),
      /checkout session already complete/,
    );
    assert.equal(await count("SELECT COUNT(*) AS n FROM orders WHERE id = ?1 AND amount_total = 3000"), 1);
  });

  test("a reconcile racing its webhook applies the session once", async () => {
    const user = await endUser();
    const { sessionId, since } = await paidWhileHeld(user);
    const completed = (await eventsSince(since)).find((e) => e.type === "checkout.session.completed" && e.data.object.id === sessionId);

    const [reconciled, delivered] = await Promise.all([
      server("POST", `/api/checkout/${sessionId}/reconcile`),
      control(`/events/${completed.id}/replay`),
    ]);
    // The loser of a true race answers 5xx; its retry is then a no-op.
    if (reconciled.status !== 200) assert.equal((await server("POST", `/api/checkout/${sessionId}/reconcile`)).status, 200);
    if (!(await eventRow(completed.id))) await control(`/events/${completed.id}/replay`);

    assert.equal(delivered.status, 200, JSON.stringify(delivered.body));
    const d = await stack.d1();
    const applied = await d
      .prepare("SELECT COUNT(*) AS n FROM stripe_events WHERE id IN (?1, ?2) AND outcome = 'applied'")
      .bind(completed.id, `evt_reconcile_${sessionId}`)
      .first();
    assert.equal(applied.n, 1, "one of the two applied it");
    const rows = await d.prepare("SELECT COUNT(*) AS n FROM subscriptions WHERE end_user_id = ?1").bind(user).first();
    assert.equal(rows.n, 1);
    assert.equal((await usage(user)).plan, "pro");
  });

  test("an unpaid session reconciles to open and changes nothing; another project's session is 404", async () => {
    const user = await endUser();
    const checkout = await server("POST", "/api/create-checkout", { headers: as(user), body: { tier: "pro", successUrl: OK, cancelUrl: NO } });

    const open = await server("POST", `/api/checkout/${checkout.body.sessionId}/reconcile`);

    assert.equal(open.status, 200, open.text);
    assert.equal(open.body.data.status, "open");
    assert.equal(open.body.data.applied, false);
    assert.equal(open.body.data.plan, "free");
    const other = await createProject(dev, { name: "Other", type: "saas" });
    const foreign = await stack.call("api", "POST", `/api/checkout/${checkout.body.sessionId}/reconcile`, { headers: { Authorization: `Bearer ${other.secretKey}` } });
    assert.equal(foreign.status, 404, foreign.text);
    const unknown = await server("POST", "/api/checkout/cs_test_nope/reconcile");
    assert.equal(unknown.status, 404, unknown.text);
  });

  test("the webhooks worker's internal route refuses anything not signed by the api worker", async () => {
    const body = JSON.stringify({ sessionId: "cs_test_x", projectId: app.project.id, at: Date.now() });
    for (const headers of [{}, { "X-Tollgate-Internal": "0".repeat(64) }, { "X-Tollgate-Internal": "not-hex" }]) {
      const res = await stack.call("webhooks", "POST", "/internal/reconcile", { headers: { "Content-Type": "application/json", ...headers }, body });
      assert.equal(res.status, 404, res.text);
    }
  });
});
