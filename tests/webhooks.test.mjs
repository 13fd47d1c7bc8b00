// The webhooks worker: Stripe's deliveries verified on the raw body and applied exactly once —
// subscriptions bought, renewed, canceled and failing as metering sees them, store orders
// paid or abandoned, duplicates, late events, forged signatures and other platforms' events.
// Arranged on the Stripe sandbox, which delivers every event, signed, to the local stack.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { devSecrets } from "../scripts/stack.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

let stack;
let secret;
let liveSecret;
let counter = 0;

before(async () => {
  stack = await testStack();
  secret = devSecrets(stack.dir).STRIPE_WEBHOOK_SECRET;
  liveSecret = devSecrets(stack.dir).STRIPE_WEBHOOK_SECRET_LIVE;
});
after(() => stack?.stop());

const db = async () => stack.d1();
const sign = (body, key = secret, at = Math.floor(Date.now() / 1000)) =>
  `t=${at},v1=${createHmac("sha256", key).update(`${at}.${body}`).digest("hex")}`;
const deliver = (body, signature = sign(body)) =>
  stack.call("webhooks", "POST", "/webhook/stripe", { headers: { "Stripe-Signature": signature }, body });
const control = (path, account, form) => stripeApi(stack, "POST", `/_sandbox${path}`, { account, form });
const eventRow = async (id) => (await db()).prepare("SELECT * FROM stripe_events WHERE id = ?1").bind(id).first();

/** A developer with a connected sandbox account. */
async function seller(sub) {
  const dev = await signIn(stack, sub);
  const catalog = (method, path, body) =>
    stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
  const { connection } = await connectStripe(stack, dev, "test");
  return { dev, catalog, account: connection.accountId };
}

/** A SaaS project with a free default tier (limit 3) and a paid pro tier (limit 100), and an end user. */
async function saas(sub) {
  const s = await seller(sub);
  const { project, secretKey } = await createProject(s.dev, { name: sub, type: "saas" });
  const free = await s.catalog("POST", `/v1/projects/${project.id}/tiers`, { name: "free", displayName: "Free", price: 0, limit: 3 });
  const pro = await s.catalog("POST", `/v1/projects/${project.id}/tiers`, { name: "pro", displayName: "Pro", price: 900, limit: 100 });
  assert.equal(free.status, 201, free.text);
  assert.equal(pro.status, 201, pro.text);
  const server = (method, path, options = {}) =>
    stack.call("api", method, path, { ...options, headers: { Authorization: `Bearer ${secretKey}`, ...(options.headers ?? {}) } });
  const user = await server("POST", "/api/customers", { body: { email: `u${++counter}@example.test` } });
  assert.equal(user.status, 201, user.text);
  return { ...s, project, tier: pro.body.data, server, endUser: user.body.data.id };
}

const usage = async (app) => (await app.server("GET", "/api/usage", { headers: { "X-User-Id": app.endUser } })).body;
const track = (app) => app.server("POST", "/api/data", { headers: { "X-User-Id": app.endUser } });

/**
 * What the api worker does at checkout, done directly: a subscription-mode session on the
 * connected account with Tollgate's metadata, and our `checkout_sessions` row for it.
 */
async function subscriptionCheckout(app) {
  const customer = await stripeApi(stack, "POST", "/v1/customers", { account: app.account, form: { email: `c${++counter}@example.test` } });
  const meta = { tollgate_project_id: app.project.id, tollgate_end_user_id: app.endUser, tollgate_tier_id: app.tier.id };
  const form = {
    mode: "subscription",
    "line_items[0][price]": app.tier.stripePriceId,
    "line_items[0][quantity]": "1",
    success_url: "https://example.test/ok",
    customer: customer.body.id,
    client_reference_id: app.endUser,
  };
  for (const [k, v] of Object.entries(meta)) {
    form[`metadata[${k}]`] = v;
    form[`subscription_data[metadata][${k}]`] = v;
  }
  const session = await stripeApi(stack, "POST", "/v1/checkout/sessions", { account: app.account, form });
  assert.equal(session.status, 200, JSON.stringify(session.body));
  const now = Date.now();
  await (await db())
    .prepare(
      "INSERT INTO checkout_sessions (id, project_id, account_id, kind, end_user_id, tier_id, status, expires_at, created_at, updated_at) VALUES (?1, ?2, ?3, 'subscription', ?4, ?5, 'open', ?6, ?7, ?7)",
    )
    .bind(session.body.id, app.project.id, app.account, app.endUser, app.tier.id, session.body.expires_at * 1000, now)
    .run();
  return session.body;
}

/** Buys the pro tier end to end; returns the Stripe subscription id. */
async function subscribe(app) {
  const session = await subscriptionCheckout(app);
  const done = await control(`/checkout/sessions/${session.id}/complete`, app.account);
  assert.equal(done.status, 200, JSON.stringify(done.body));
  const row = await (await db()).prepare("SELECT stripe_subscription_id FROM subscriptions WHERE end_user_id = ?1").bind(app.endUser).first();
  assert.ok(row, "the subscription was stored by the time the sandbox answered");
  return row.stripe_subscription_id;
}

/** The newest sandbox event of `type` on the account. */
async function lastEvent(account, type) {
  const list = await stripeApi(stack, "GET", `/v1/events?type=${type}&limit=1`, { account });
  return list.body.data[0];
}

describe("subscriptions as metering sees them", () => {
  test("buying the pro tier changes the plan and the limit, and completes our session", async () => {
    const app = await saas("wh_buy");
    assert.equal((await usage(app)).plan, "free");

    const session = await subscriptionCheckout(app);
    await control(`/checkout/sessions/${session.id}/complete`, app.account);

    const after = await usage(app);
    assert.equal(after.plan, "pro");
    assert.equal(after.limit, 100);
    const d = await db();
    const row = await d.prepare("SELECT status FROM checkout_sessions WHERE id = ?1").bind(session.id).first();
    assert.equal(row.status, "complete");
    const sub = await d.prepare("SELECT * FROM subscriptions WHERE end_user_id = ?1").bind(app.endUser).first();
    assert.equal(sub.status, "active");
    assert.equal(sub.tier_id, app.tier.id);
    assert.equal(sub.amount, 900);
    assert.ok(sub.current_period_end > sub.current_period_start);
    const user = await d.prepare("SELECT stripe_customer_id FROM end_users WHERE id = ?1").bind(app.endUser).first();
    assert.equal(user.stripe_customer_id, sub.stripe_customer_id);
    const completed = await lastEvent(app.account, "checkout.session.completed");
    assert.equal((await eventRow(completed.id)).outcome, "applied");
  });

  test("a renewal starts a new period and usage counts from zero", async () => {
    const app = await saas("wh_renew");
    const subscription = await subscribe(app);
    await track(app);
    await track(app);
    const before = await usage(app);
    assert.equal(before.usageCount, 2);

    await control(`/subscriptions/${subscription}/advance`, app.account);

    const after = await usage(app);
    assert.equal(after.plan, "pro");
    assert.equal(after.usageCount, 0);
    assert.ok(new Date(after.periodStart) > new Date(before.periodStart));
  });

  test("cancel at period end keeps the paid tier until the period ends, then falls back to free", async () => {
    const app = await saas("wh_cancel");
    const subscription = await subscribe(app);

    const cancel = await stripeApi(stack, "POST", `/v1/subscriptions/${subscription}`, { account: app.account, form: { cancel_at_period_end: "true" } });
    assert.equal(cancel.status, 200);
    const still = await usage(app);
    const row = await (await db()).prepare("SELECT cancel_at_period_end, status FROM subscriptions WHERE stripe_subscription_id = ?1").bind(subscription).first();
    await control(`/subscriptions/${subscription}/advance`, app.account);
    const ended = await usage(app);

    assert.deepEqual(row, { cancel_at_period_end: 1, status: "active" });
    assert.equal(still.plan, "pro");
    assert.equal(ended.plan, "free");
    assert.equal(ended.limit, 3);
  });

  test("a failed renewal marks the subscription past_due and the user falls back to the free limit", async () => {
    const app = await saas("wh_fail");
    const subscription = await subscribe(app);

    await control(`/subscriptions/${subscription}/fail_renewal`, app.account);

    const row = await (await db()).prepare("SELECT status FROM subscriptions WHERE stripe_subscription_id = ?1").bind(subscription).first();
    assert.equal(row.status, "past_due");
    const after = await usage(app);
    assert.equal(after.plan, "free");
    assert.equal(after.limit, 3);
  });
});

describe("exactly once and in order", () => {
  test("the same event delivered five times in parallel is applied once; the others are duplicates", async () => {
    const app = await saas("wh_dupes");
    await subscribe(app);
    const created = await lastEvent(app.account, "customer.subscription.created");
    const body = JSON.stringify({ ...created, id: `evt_dup${++counter}x${Date.now()}` });

    const answers = await Promise.all(Array.from({ length: 5 }, () => deliver(body)));

    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
    assert.equal(answers.filter((a) => a.body.duplicate === false).length, 1);
    assert.equal(answers.filter((a) => a.body.duplicate === true).length, 4);
    const rows = await (await db()).prepare("SELECT COUNT(*) AS n FROM stripe_events WHERE id = ?1").bind(JSON.parse(body).id).first();
    assert.equal(rows.n, 1);
  });

  test("when applying fails the event answers 5xx and leaves nothing, and Stripe's retry applies it", async () => {
    const app = await saas("wh_retry");
    const session = await subscriptionCheckout(app);
    // Every attempt of our read of the subscription fails, as during a Stripe outage.
    const fault = await stripeApi(stack, "POST", "/_sandbox/faults", { form: { path: "/v1/subscriptions/", status: "500", count: "3", method: "GET" } });
    assert.equal(fault.status, 200, JSON.stringify(fault.body));

    await control(`/checkout/sessions/${session.id}/complete`, app.account);
    const completed = await lastEvent(app.account, "checkout.session.completed");
    const deliveries = await stripeApi(stack, "GET", `/_sandbox/events/${completed.id}/deliveries`, { account: app.account });
    const sessionAfterFailure = await (await db()).prepare("SELECT status FROM checkout_sessions WHERE id = ?1").bind(session.id).first();
    const rowAfterFailure = await eventRow(completed.id);
    await stripeApi(stack, "POST", `/_sandbox/events/${completed.id}/replay`, { account: app.account });

    assert.ok(JSON.stringify(deliveries.body).match(/"status":5\d\d/), JSON.stringify(deliveries.body));
    assert.equal(sessionAfterFailure.status, "open");
    assert.equal(rowAfterFailure, null);
    assert.equal((await eventRow(completed.id)).outcome, "applied");
    const now = await (await db()).prepare("SELECT status FROM checkout_sessions WHERE id = ?1").bind(session.id).first();
    assert.equal(now.status, "complete");
  });

  test("an update that arrives before its creation creates the row, and the late creation is stale", async () => {
    const app = await saas("wh_order");
    const subscription = await subscribe(app);
    const created = await lastEvent(app.account, "customer.subscription.created");
    await (await db()).prepare("DELETE FROM subscriptions WHERE stripe_subscription_id = ?1").bind(subscription).run();
    const base = created.created + 60;
    const updated = {
      ...created,
      id: `evt_upd${++counter}`,
      type: "customer.subscription.updated",
      created: base,
      data: { object: { ...created.data.object, cancel_at_period_end: true }, previous_attributes: { cancel_at_period_end: false } },
    };
    const late = { ...created, id: `evt_late${counter}`, created: base - 30 };

    const first = await deliver(JSON.stringify(updated));
    const second = await deliver(JSON.stringify(late));

    assert.equal(first.body.outcome, "applied");
    assert.equal(second.body.outcome, "stale");
    const row = await (await db()).prepare("SELECT cancel_at_period_end, stripe_event_at, end_user_id FROM subscriptions WHERE stripe_subscription_id = ?1").bind(subscription).first();
    assert.deepEqual(row, { cancel_at_period_end: 1, stripe_event_at: base * 1000, end_user_id: app.endUser });
  });

  test("a forged, stale or missing signature is refused with 400 and records nothing", async () => {
    const body = JSON.stringify({ id: `evt_forged${++counter}`, object: "event", type: "customer.created", created: 1, livemode: false, data: { object: {} } });
    const cases = [
      ["wrong secret", sign(body, "whsec_not_ours")],
      ["too old", sign(body, secret, Math.floor(Date.now() / 1000) - 301)],
      ["malformed", "v1=abc"],
      ["other body", sign(`${body} `)],
    ];
    for (const [why, signature] of cases) {
      const res = await deliver(body, signature);

      assert.equal(res.status, 400, why);
      assert.equal(res.body.code, "invalid_signature", why);
    }
    const missing = await stack.call("webhooks", "POST", "/webhook/stripe", { body });
    assert.equal(missing.status, 400);
    assert.equal(await eventRow(JSON.parse(body).id), null);
  });

  test("a test-mode secret never vouches for a live event, and a live secret never applies a test event", async () => {
    const event = (livemode) => JSON.stringify({ id: `evt_mode${++counter}`, object: "event", type: "customer.created", created: 1, livemode, data: { object: { id: "cus_1" } } });
    const liveUnderTest = event(true);
    const testUnderLive = event(false);
    const liveUnderLive = event(true);
    const testUnderTest = event(false);

    const forged = await deliver(liveUnderTest, sign(liveUnderTest, secret));
    const ignored = await deliver(testUnderLive, sign(testUnderLive, liveSecret));
    const live = await deliver(liveUnderLive, sign(liveUnderLive, liveSecret));
    const test_ = await deliver(testUnderTest, sign(testUnderTest, secret));

    assert.equal(forged.status, 400);
    assert.equal(forged.body.code, "invalid_signature");
    assert.match(forged.body.error, /livemode/);
    assert.equal(await eventRow(JSON.parse(liveUnderTest).id), null, "the forged live event is not recorded");
    // Stripe does send connected accounts' test events to a live Connect endpoint too: answered, never applied.
    assert.equal(ignored.status, 200);
    assert.deepEqual(ignored.body, { received: true, outcome: "unrelated", duplicate: false });
    assert.equal(await eventRow(JSON.parse(testUnderLive).id), null, "the test event under the live secret is not recorded");
    assert.equal((await eventRow(JSON.parse(liveUnderLive).id)).livemode, 1);
    assert.equal((await eventRow(JSON.parse(testUnderTest).id)).livemode, 0);
    assert.equal(live.body.outcome, "unhandled");
    assert.equal(test_.body.outcome, "unhandled");
  });

  test("a body over 256 KiB is refused with 413", async () => {
    const body = JSON.stringify({ id: "evt_big", pad: "x".repeat(300 * 1024) });

    const res = await deliver(body);

    assert.equal(res.status, 413);
    assert.equal(await eventRow("evt_big"), null);
  });

  test("an unknown event type is recorded as unhandled", async () => {
    const body = JSON.stringify({ id: `evt_other${++counter}`, object: "event", type: "customer.created", created: 1, livemode: false, data: { object: { id: "cus_1" } } });

    const res = await deliver(body);

    assert.deepEqual(res.body, { received: true, outcome: "unhandled", duplicate: false });
    assert.equal((await eventRow(JSON.parse(body).id)).outcome, "unhandled");
  });
});

describe("owners", () => {
  test("an event on platform B's account naming platform A's project is unrelated and changes nothing", async () => {
    const a = await saas("wh_owner_a");
    const b = await seller("wh_owner_b");
    const subscription = await subscribe(a);
    const created = await lastEvent(a.account, "customer.subscription.created");
    const forged = {
      ...created,
      id: `evt_cross${++counter}`,
      account: b.account,
      created: created.created + 100,
      data: { object: { ...created.data.object, id: "sub_forged1", status: "active" } },
    };

    const res = await deliver(JSON.stringify(forged));

    assert.equal(res.body.outcome, "unrelated");
    const d = await db();
    assert.equal(await d.prepare("SELECT id FROM subscriptions WHERE stripe_subscription_id = 'sub_forged1'").first(), null);
    const untouched = await d.prepare("SELECT stripe_event_at FROM subscriptions WHERE stripe_subscription_id = ?1").bind(subscription).first();
    assert.ok(untouched.stripe_event_at < forged.created * 1000);
  });

  test("a deleted project's subscription takes no more events: each is unrelated and changes nothing", async () => {
    const app = await saas("wh_owner_deleted");
    const subscription = await subscribe(app);
    const created = await lastEvent(app.account, "customer.subscription.created");
    const d = await db();
    await d.prepare("UPDATE projects SET deleted_at = ?2 WHERE id = ?1").bind(app.project.id, Date.now()).run();
    const held = () => d.prepare("SELECT status, stripe_event_at, updated_at FROM subscriptions WHERE stripe_subscription_id = ?1").bind(subscription).first();
    const before = await held();
    const at = created.created + 100;
    const events = [
      { ...created, id: `evt_gone${++counter}`, type: "customer.subscription.updated", created: at, data: { object: { ...created.data.object, status: "past_due" } } },
      {
        id: `evt_gone${++counter}`,
        object: "event",
        type: "invoice.payment_failed",
        created: at,
        livemode: false,
        account: app.account,
        data: { object: { id: `in_gone${counter}`, object: "invoice", subscription, billing_reason: "subscription_cycle", lines: { object: "list", data: [] } } },
      },
    ];

    for (const event of events) {
      const res = await deliver(JSON.stringify(event));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.outcome, "unrelated", event.type);
      assert.equal((await eventRow(event.id)).outcome, "unrelated");
    }
    assert.deepEqual(await held(), before);
  });

  test("an event from an account nobody connected is unrelated", async () => {
    const body = JSON.stringify({ id: `evt_stranger${++counter}`, object: "event", type: "customer.subscription.updated", created: 5, livemode: false, account: "acct_nobody", data: { object: {} } });

    const res = await deliver(body);

    assert.equal(res.body.outcome, "unrelated");
  });
});

describe("store orders", () => {
  /** A store project with a stocked product, an order holding two units, and its session. */
  async function cart(sub) {
    const s = await seller(sub);
    const { project } = await createProject(s.dev, { name: sub, type: "store" });
    const made = await s.catalog("POST", `/v1/projects/${project.id}/products`, { name: "ebook", displayName: "E-book", price: 1500, inventory: 10 });
    assert.equal(made.status, 201, made.text);
    const product = made.body.data;
    const orderId = `ord_t${++counter}`;
    const form = {
      mode: "payment",
      "line_items[0][price]": product.stripePriceId,
      "line_items[0][quantity]": "2",
      success_url: "https://example.test/ok",
      customer_email: "buyer@example.test",
      "metadata[tollgate_project_id]": project.id,
      "metadata[tollgate_order_id]": orderId,
    };
    const session = await stripeApi(stack, "POST", "/v1/checkout/sessions", { account: s.account, form });
    assert.equal(session.status, 200, JSON.stringify(session.body));
    const now = Date.now();
    const d = await db();
    await d.batch([
      d.prepare("INSERT INTO orders (id, project_id, email, status, amount_total, currency, created_at, updated_at) VALUES (?1, ?2, 'buyer@example.test', 'pending', 3000, 'usd', ?3, ?3)").bind(orderId, project.id, now),
      d.prepare("INSERT INTO inventory_reservations (order_id, product_id, quantity, unit_amount, status, created_at, updated_at) VALUES (?1, ?2, 2, 1500, 'held', ?3, ?3)").bind(orderId, product.id, now),
      d.prepare("UPDATE products SET inventory = inventory - 2 WHERE id = ?1").bind(product.id),
      d.prepare("INSERT INTO checkout_sessions (id, project_id, account_id, kind, order_id, status, expires_at, created_at, updated_at) VALUES (?1, ?2, ?3, 'payment', ?4, 'open', ?5, ?6, ?6)").bind(session.body.id, project.id, s.account, orderId, session.body.expires_at * 1000, now),
    ]);
    return { ...s, project, product, orderId, session: session.body };
  }

  const state = async (c) => {
    const d = await db();
    return {
      order: (await d.prepare("SELECT status FROM orders WHERE id = ?1").bind(c.orderId).first()).status,
      reservation: (await d.prepare("SELECT status FROM inventory_reservations WHERE order_id = ?1").bind(c.orderId).first()).status,
      inventory: (await d.prepare("SELECT inventory FROM products WHERE id = ?1").bind(c.product.id).first()).inventory,
      entitlements: (await d.prepare("SELECT COUNT(*) AS n FROM entitlements WHERE order_id = ?1 AND status = 'active'").bind(c.orderId).first()).n,
      session: (await d.prepare("SELECT status FROM checkout_sessions WHERE id = ?1").bind(c.session.id).first()).status,
    };
  };

  test("a paid cart commits its reservation and grants one entitlement per product", async () => {
    const c = await cart("wh_paid");

    await control(`/checkout/sessions/${c.session.id}/complete`, c.account);

    assert.deepEqual(await state(c), { order: "paid", reservation: "committed", inventory: 8, entitlements: 1, session: "complete" });
  });

  test("an expired cart gives its units back exactly once, even when the event comes again", async () => {
    const c = await cart("wh_expired");

    await control(`/checkout/sessions/${c.session.id}/expire`, c.account);
    const expired = await lastEvent(c.account, "checkout.session.expired");
    const replay = await stripeApi(stack, "POST", `/_sandbox/events/${expired.id}/replay`, { account: c.account });
    const copy = await deliver(JSON.stringify({ ...expired, id: `evt_copy${++counter}` }));

    assert.equal(replay.status, 200);
    assert.equal(copy.body.outcome, "applied", "a second event id finds nothing still held");
    assert.deepEqual(await state(c), { order: "expired", reservation: "released", inventory: 10, entitlements: 0, session: "expired" });
  });
});

describe("the event log", () => {
  test("a developer sees the project's events without payloads, and re-applying an applied one changes nothing", async () => {
    const app = await saas("wh_log");
    await subscribe(app);
    const asDev = (method, path, token = app.dev.token) => stack.call("webhooks", method, path, { headers: { Authorization: `Bearer ${token}` } });

    const listed = await asDev("GET", `/v1/projects/${app.project.id}/events`);
    const completed = listed.body.data.find((e) => e.type === "checkout.session.completed");
    const again = await asDev("POST", `/v1/projects/${app.project.id}/events/${completed.id}/reapply`);

    assert.equal(listed.status, 200);
    assert.deepEqual(Object.keys(completed).sort(), ["created", "id", "livemode", "outcome", "receivedAt", "type"]);
    assert.equal(completed.outcome, "applied");
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body.data, { received: true, duplicate: true });
    const { n } = await (await db()).prepare("SELECT COUNT(*) AS n FROM subscriptions WHERE end_user_id = ?1").bind(app.endUser).first();
    assert.equal(n, 1);
  });

  test("another developer's project answers 404, and re-applying needs a recent sign-in", async () => {
    const app = await saas("wh_log_owner");
    await subscribe(app);
    const listed = await stack.call("webhooks", "GET", `/v1/projects/${app.project.id}/events`, { headers: { Authorization: `Bearer ${app.dev.token}` } });
    const eventId = listed.body.data[0].id;
    const intruder = await signIn(stack, "wh_log_intruder");
    const stale = await signIn(stack, "wh_log_owner", { authAge: 700 });

    const peek = await stack.call("webhooks", "GET", `/v1/projects/${app.project.id}/events`, { headers: { Authorization: `Bearer ${intruder.token}` } });
    const poke = await stack.call("webhooks", "POST", `/v1/projects/${app.project.id}/events/${eventId}/reapply`, { headers: { Authorization: `Bearer ${intruder.token}` } });
    const old = await stack.call("webhooks", "POST", `/v1/projects/${app.project.id}/events/${eventId}/reapply`, { headers: { Authorization: `Bearer ${stale.token}` } });

    assert.equal(peek.status, 404);
    assert.equal(poke.status, 404);
    assert.equal(old.status, 403);
    assert.equal(old.body.code, "reauthentication_required");
  });
});
