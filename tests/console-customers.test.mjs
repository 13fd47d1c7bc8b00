// The console's customers (catalog worker, developer lane): a developer signed in with their
// JWT reads a project's end users — plan, usage this period and per day, subscription, orders
// and entitlements — revokes an order entitlement and deletes a customer, without ever
// holding the project's secret key. The secret key below plays only the developer's backend
// (creating end users, metering, buying). Arranged on the real local stack and the Stripe
// sandbox; another developer gets 404 for every route with the first developer's ids.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, signIn, uploadAsset } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks?session={CHECKOUT_SESSION_ID}";
const NO = "http://127.0.0.1:5173/plans";
const FILE = Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(256, 0x42)]);
const DAY_MS = 86_400_000;

let stack;
let dev;
let other;
let account;
let app;
let shop;
let product;
let counter = 0;

const db = () => stack.d1();
/** The console's call as `who` (the first developer unless told). */
const consoleCall = (method, path, { as = dev, ...rest } = {}) =>
  stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${as.token}` }, ...rest });
const customers = (project, query = "", options) => consoleCall("GET", `/v1/projects/${project.project.id}/customers${query}`, options);
const customer = (project, id, options) => consoleCall("GET", `/v1/projects/${project.project.id}/customers/${id}`, options);
const revoke = (project, id, entitlement, options) =>
  consoleCall("POST", `/v1/projects/${project.project.id}/customers/${id}/entitlements/${entitlement}/revoke`, options);
const remove = (project, id, options) => consoleCall("DELETE", `/v1/projects/${project.project.id}/customers/${id}`, options);
const subscriptionWrite = (project, id, action, body, options) =>
  consoleCall("POST", `/v1/projects/${project.project.id}/customers/${id}/subscription/${action}`, { body, ...options });
/** Polls `check` until it returns something truthy (or fails after `ms`). */
async function eventually(check, ms = 10_000, what = "condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** The developer's backend, with the project's secret key. */
const server = (project, method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { Authorization: `Bearer ${project.secretKey}`, ...headers }, ...rest });
const complete = (session) => stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${session}/complete`, { account });
const today = () => new Date().toISOString().slice(0, 10);

async function endUser(project, body = {}) {
  const res = await server(project, "POST", "/api/customers", { body: { email: `cc${++counter}@example.test`, ...body } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

async function meter(project, user, cost) {
  const res = await server(project, "POST", "/api/usage/track", { headers: { "X-User-Id": user.id }, body: { cost } });
  assert.equal(res.status, 200, res.text);
}

async function subscriber(tier) {
  const user = await endUser(app);
  const checkout = await server(app, "POST", "/api/create-checkout", { headers: { "X-User-Id": user.id }, body: { tier, successUrl: OK, cancelUrl: NO } });
  assert.equal(checkout.status, 200, checkout.text);
  const paid = await complete(checkout.body.sessionId);
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
  return user;
}

/** A buyer with a paid order of the product; returns the buyer, the order and its entitlement. */
async function buyer() {
  const user = await endUser(shop);
  const cart = await server(shop, "POST", "/api/cart/checkout", { headers: { "X-User-Id": user.id }, body: { items: [{ productId: product.id }], successUrl: OK, cancelUrl: NO } });
  assert.equal(cart.status, 200, cart.text);
  const paid = await complete(cart.body.sessionId);
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
  const row = await (await db()).prepare("SELECT id FROM entitlements WHERE order_id = ?1").bind(cart.body.orderId).first();
  return { user, orderId: cart.body.orderId, entitlement: row.id };
}

async function downloadLink(user) {
  const issued = await server(shop, "POST", "/api/downloads", { headers: { "X-User-Id": user.id }, body: { productId: product.id } });
  assert.equal(issued.status, 200, issued.text);
  return issued.body.data.url;
}
const fetchStatus = async (url) => {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status;
};
const audits = (action, target) =>
  db().then((d) => d.prepare("SELECT actor, platform_id FROM audit_events WHERE action = ?1 AND target_id = ?2").bind(action, target).all()).then((r) => r.results);
const rowIn = (page, id) => page.body.data.find((c) => c.id === id);

before(async () => {
  stack = await testStack();
  dev = await signIn(stack, "dev_console_customers");
  other = await signIn(stack, "dev_console_other");
  ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
  app = await createProject(dev, { name: "Console SaaS", type: "saas" });
  for (const tier of [
    { name: "free", displayName: "Free", price: 0, limit: 100 },
    { name: "pro", displayName: "Pro", price: 900, limit: 1000 },
    { name: "team", displayName: "Team", price: 2900, limit: 5000 },
  ]) {
    const res = await consoleCall("POST", `/v1/projects/${app.project.id}/tiers`, { body: tier });
    assert.equal(res.status, 201, res.text);
  }
  shop = await createProject(dev, { name: "Console store", type: "store" });
  const asset = await uploadAsset(stack, shop, FILE, { filename: "guide.pdf", visibility: "private" });
  const created = await consoleCall("POST", `/v1/projects/${shop.project.id}/products`, { body: { name: "guide", displayName: "The guide", price: 1500, assetId: asset.id } });
  assert.equal(created.status, 201, created.text);
  product = created.body.data;
  const hook = await stack.call("webhooks", "POST", `/v1/projects/${shop.project.id}/webhook-endpoints`, {
    headers: { Authorization: `Bearer ${dev.token}` },
    body: { url: "http://127.0.0.1:9/hooks", events: ["entitlement.changed"] },
  });
  assert.equal(hook.status, 201, hook.text);
});
after(() => stack?.stop());

describe("reading customers", () => {
  test("metered usage shows in the list and the detail: the period's count and today's daily point", async () => {
    const user = await endUser(app, { externalId: `ext-usage-${counter}` });
    await meter(app, user, 3);
    await meter(app, user, 4);
    await stack.settleMeters(app.project.id);

    const list = await customers(app);
    const detail = await customer(app, user.id);

    assert.equal(list.status, 200, list.text);
    const row = rowIn(list, user.id);
    assert.deepEqual(
      [row.email, row.externalId, row.plan, row.limit, row.usage.count, row.subscription],
      [user.email, user.externalId, "free", 100, 7, null],
    );
    assert.ok(row.usage.periodStart <= Date.now() && Date.now() < row.usage.periodEnd, "the period holds now");
    assert.equal(detail.status, 200, detail.text);
    const history = detail.body.data.usageHistory;
    assert.equal(history.length, 30);
    assert.deepEqual(history.at(-1), { date: today(), count: 7, currentPeriod: 7 });
    assert.equal(history.reduce((n, d) => n + d.count, 0), 7);
    assert.deepEqual([detail.body.data.usage.count, detail.body.data.orders, detail.body.data.entitlements], [7, [], []]);
  });

  test("a subscriber shows its plan, limit and subscription, in full in the detail", async () => {
    const user = await subscriber("pro");

    const row = rowIn(await customers(app), user.id);
    const detail = (await customer(app, user.id)).body.data;

    assert.deepEqual([row.plan, row.limit], ["pro", 1000]);
    assert.deepEqual([row.subscription.status, row.subscription.tier, row.subscription.cancelAtPeriodEnd], ["active", "pro", false]);
    assert.ok(row.subscription.currentPeriodEnd > Date.now());
    const sub = detail.subscription;
    assert.deepEqual([sub.status, sub.tier, sub.amount, sub.currency, sub.interval], ["active", "pro", 900, "usd", "month"]);
    assert.equal(sub.currentPeriodEnd, row.subscription.currentPeriodEnd);
    assert.deepEqual([detail.usage.periodStart, detail.usage.periodEnd], [sub.currentPeriodStart, sub.currentPeriodEnd], "usage counts in the subscription's period");
    const granted = detail.entitlements.find((e) => e.id === sub.id);
    assert.deepEqual([granted?.source, granted?.plan, granted?.status], ["subscription", "pro", "active"]);
  });

  test("a store order and its entitlement show in the buyer's detail", async () => {
    const bought = await buyer();

    const res = await customer(shop, bought.user.id);

    assert.equal(res.status, 200, res.text);
    const [order] = res.body.data.orders;
    assert.deepEqual(
      [order.id, order.status, order.amountTotal, order.amountRefunded, order.currency, order.productIds],
      [bought.orderId, "paid", 1500, 0, "usd", [product.id]],
    );
    const [entitlement] = res.body.data.entitlements;
    assert.deepEqual(
      [entitlement.id, entitlement.source, entitlement.productId, entitlement.status, entitlement.revokedBy],
      [bought.entitlement, "order", product.id, "active", null],
    );
  });
});

describe("paging and searching", () => {
  let paged;
  let made;
  before(async () => {
    paged = await createProject(dev, { name: "Paging", type: "saas" });
    made = [];
    for (let i = 0; i < 5; i++) made.push(await endUser(paged, { email: `Page-${i}@Example.test`, externalId: `acct-${i}` }));
  });

  test("pages of two walk every customer once, newest first, and the last names no cursor", async () => {
    const seen = [];
    let cursor = "";
    let pages = 0;
    do {
      const res = await customers(paged, `?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.data.length <= 2);
      seen.push(...res.body.data);
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);

    assert.equal(pages, 3);
    assert.deepEqual(seen.map((c) => c.id).sort(), made.map((c) => c.id).sort());
    const order = seen.map((c) => [c.createdAt, c.id]);
    const newestFirst = [...order].sort(([a, x], [b, y]) => b - a || (y < x ? -1 : y > x ? 1 : 0));
    assert.deepEqual(order, newestFirst);
  });

  test("search is a case-insensitive prefix of the email, the external id or the customer id; wildcards are literal", async () => {
    for (const [search, expected] of [
      ["page-3@EXAMPLE", [made[3].id]],
      ["ACCT-1", [made[1].id]],
      [made[4].id, [made[4].id]],
      ["page-", made.map((c) => c.id)],
      ["%", []],
      ["page_3", []],
      ["example.test", []],
    ]) {
      const res = await customers(paged, `?search=${encodeURIComponent(search)}`);

      assert.equal(res.status, 200, `${search}: ${res.text}`);
      assert.deepEqual(res.body.data.map((c) => c.id).sort(), [...expected].sort(), search);
    }
  });

  test("bad inputs answer 422 on their parameter, in the error shape", async () => {
    const foreignCursor = Buffer.from(`1:${paged.project.id}`).toString("base64url");
    for (const [query, field] of [
      ["?limit=0", "limit"],
      ["?limit=101", "limit"],
      ["?limit=ten", "limit"],
      ["?cursor=not-a-cursor!", "cursor"],
      [`?cursor=${foreignCursor}`, "cursor"],
      [`?cursor=${"A".repeat(300)}`, "cursor"],
      [`?search=${"a".repeat(50)}`, "search"],
      ["?search=%00ann", "search"],
    ]) {
      const res = await customers(paged, query);

      assert.equal(res.status, 422, `${query}: ${res.text}`);
      assert.equal(res.body.code, "validation_failed", query);
      assert.deepEqual(Object.keys(res.body.fieldErrors), [field], query);
      assert.match(res.body.requestId, /\S/);
    }
    assert.equal((await customers(paged, "?limit=100")).body.data.length, 5, "nothing changed");
  });
});

describe("revoking an entitlement", () => {
  test("needs no fresh sign-in, stops a download link already issued, is audited with the developer as actor and queues entitlement.changed", async () => {
    const bought = await buyer();
    const url = await downloadLink(bought.user);
    const before = await fetchStatus(url);
    const signedInLongAgo = await signIn(stack, dev.sub, { authAge: 3600 });

    const res = await revoke(shop, bought.user.id, bought.entitlement, { as: signedInLongAgo });

    assert.equal(before, 200);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([res.body.data.id, res.body.data.status, res.body.data.revokedBy], [bought.entitlement, "revoked", "developer"]);
    assert.equal(await fetchStatus(url), 403, "the link issued before no longer downloads");
    const shown = (await customer(shop, bought.user.id)).body.data.entitlements[0];
    assert.deepEqual([shown.status, shown.revokedBy], ["revoked", "developer"]);
    assert.deepEqual((await audits("entitlement.revoked", bought.entitlement)).map((a) => a.actor), [dev.sub]);
    const { results } = await (await db())
      .prepare("SELECT payload FROM webhook_deliveries WHERE project_id = ?1 AND event_type = 'entitlement.changed'")
      .bind(shop.project.id)
      .all();
    const revoked = results.map((r) => JSON.parse(r.payload).data).filter((d) => d.change === "revoked" && d.entitlementId === bought.entitlement);
    assert.equal(revoked.length, 1);
  });

  test("refuses what it cannot revoke and changes nothing", async () => {
    const bought = await buyer();
    const stranger = await endUser(shop);
    const sub = await subscriber("pro");
    const subscription = (await customer(app, sub.id)).body.data.subscription.id;
    const done = await buyer();
    assert.equal((await revoke(shop, done.user.id, done.entitlement)).status, 200);

    for (const [project, user, id, status, code] of [
      [shop, stranger.id, bought.entitlement, 404, "not_found"],
      [shop, bought.user.id, "ent_doesnotexist0000000000", 404, "not_found"],
      [app, sub.id, subscription, 409, "not_revocable"],
      [shop, done.user.id, done.entitlement, 409, "already_revoked"],
    ]) {
      const res = await revoke(project, user, id);

      assert.deepEqual([res.status, res.body.code], [status, code], `${user} ${id}`);
    }
    const row = await (await db()).prepare("SELECT status FROM entitlements WHERE id = ?1").bind(bought.entitlement).first();
    assert.equal(row.status, "active");
  });
});

describe("deleting a customer", () => {
  test("needs a fresh sign-in; then the customer, its usage and its history go, audited with the developer as actor", async () => {
    const user = await endUser(app);
    await meter(app, user, 2);
    const stale = await signIn(stack, dev.sub, { authAge: 3600 });

    const refused = await remove(app, user.id, { as: stale });
    const stillThere = await customer(app, user.id);
    const res = await remove(app, user.id);

    assert.deepEqual([refused.status, refused.body.code], [403, "reauthentication_required"]);
    assert.equal(stillThere.status, 200);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.data, { id: user.id, deleted: true });
    assert.equal((await customer(app, user.id)).status, 404);
    assert.equal(rowIn(await customers(app, "?limit=100"), user.id), undefined);
    const d = await db();
    const left = async (table) => (await d.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE end_user_id = ?1`).bind(user.id).first()).n;
    assert.deepEqual([await left("usage_counters"), await left("end_user_usage_days")], [0, 0]);
    assert.deepEqual((await audits("customer.deleted", user.id)).map((a) => a.actor), [dev.sub]);
    assert.equal((await remove(app, user.id)).status, 404, "a second delete finds nothing");
  });
});

describe("a customer's subscription", () => {
  test("an upgrade by the developer needs a fresh sign-in, is paid by the customer first, then raises plan and limit; audited as the developer", async () => {
    // Arrange
    const user = await subscriber("pro");
    const stale = await signIn(stack, dev.sub, { authAge: 3600 });

    // Act
    const refused = await subscriptionWrite(app, user.id, "change", { tier: "team" }, { as: stale });
    const toFree = await subscriptionWrite(app, user.id, "change", { tier: "free" });
    const unknown = await subscriptionWrite(app, user.id, "change", { tier: "nope" });
    const same = await subscriptionWrite(app, user.id, "change", { tier: "pro" });
    const changed = await subscriptionWrite(app, user.id, "change", { tier: "team" });

    // Assert
    assert.deepEqual([refused.status, refused.body.code], [403, "reauthentication_required"]);
    assert.deepEqual([toFree.status, Object.keys(toFree.body.fieldErrors ?? {})], [422, ["tier"]]);
    assert.deepEqual([unknown.status, Object.keys(unknown.body.fieldErrors ?? {})], [422, ["tier"]]);
    assert.deepEqual([same.status, same.body.code], [409, "already_subscribed"]);
    assert.equal(changed.status, 200, changed.text);
    assert.deepEqual([changed.body.data.change.status, changed.body.data.change.tier], ["applied", "team"]);
    const row = await eventually(async () => {
      const found = rowIn(await customers(app, "?limit=100"), user.id);
      return found?.plan === "team" && found;
    }, 10_000, "the webhook raising the plan");
    assert.equal(row.limit, 5000);
    assert.deepEqual((await audits("subscription.change_requested", changed.body.data.subscriptionId)).map((a) => a.actor), [dev.sub]);
  });

  test("a cancel at the period's end keeps the plan and a resume keeps the subscription; without one it is 404", async () => {
    const user = await subscriber("pro");
    const never = await endUser(app);

    const canceled = await subscriptionWrite(app, user.id, "cancel", {});
    const again = await subscriptionWrite(app, user.id, "cancel", {});
    const resumed = await subscriptionWrite(app, user.id, "resume");
    const notEnding = await subscriptionWrite(app, user.id, "resume");
    const none = await subscriptionWrite(app, never.id, "cancel", {});
    const misplaced = await subscriptionWrite(app, user.id, "resume", { tier: "team" });

    assert.equal(canceled.status, 200, canceled.text);
    assert.equal(canceled.body.data.cancelAtPeriodEnd, true);
    assert.deepEqual([again.status, again.body.data.cancelAtPeriodEnd], [200, true]);
    assert.deepEqual([resumed.status, resumed.body.data.cancelAtPeriodEnd], [200, false]);
    assert.deepEqual([notEnding.status, notEnding.body.code], [409, "subscription_not_canceling"]);
    assert.deepEqual([none.status, none.body.code], [404, "no_subscription"]);
    assert.deepEqual([misplaced.status, Object.keys(misplaced.body.fieldErrors ?? {})], [422, ["body"]]);
    const row = rowIn(await customers(app, "?limit=100"), user.id);
    assert.deepEqual([row.plan, row.subscription.status], ["pro", "active"]);
  });
});

describe("tenancy", () => {
  test("another developer gets 404 for every route with the first developer's ids, and nothing changes", async () => {
    const bought = await buyer();
    const theirs = await createProject(other, { name: "Theirs", type: "store" });
    const asOther = { as: other };

    const answers = [
      await customers(shop, "", asOther),
      await customer(shop, bought.user.id, asOther),
      await revoke(shop, bought.user.id, bought.entitlement, asOther),
      await remove(shop, bought.user.id, asOther),
      await customer(theirs, bought.user.id, asOther),
      await revoke(theirs, bought.user.id, bought.entitlement, asOther),
      await remove(theirs, bought.user.id, asOther),
      await subscriptionWrite(shop, bought.user.id, "cancel", {}, asOther),
      await subscriptionWrite(theirs, bought.user.id, "change", { tier: "pro" }, asOther),
      // the first developer's own other project does not reach this customer either
      await customer(app, bought.user.id),
      await revoke(app, bought.user.id, bought.entitlement),
    ];

    assert.deepEqual(
      answers.map((r) => [r.status, r.body.code]),
      answers.map(() => [404, "not_found"]),
    );
    const detail = await customer(shop, bought.user.id);
    assert.equal(detail.body.data.entitlements[0].status, "active");
  });

  test("a day's usage never leaks into another customer's history", async () => {
    const a = await endUser(app);
    const b = await endUser(app);
    await meter(app, a, 5);

    const history = (await customer(app, b.id)).body.data.usageHistory;

    assert.equal(history.reduce((n, d) => n + d.count, 0), 0);
    assert.ok(history.every((d) => Date.parse(d.date) > Date.now() - 31 * DAY_MS));
  });
});
