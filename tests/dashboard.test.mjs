// The dashboard, checked against scenarios with known answers: a SaaS project whose three
// customers subscribe at 9.00/month, 19.00/month (canceling) and 120.00/year (MRR 38.00) and
// use it, a store with paid, pending and older orders, a project at its usage limit, and a
// live project beside the test ones. Subscriptions and orders go through the real flows
// (checkout on the api worker, the Stripe sandbox's payment and its signed webhooks); only
// history the flows cannot date in the past is written into D1 directly.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks";
const NO = "http://127.0.0.1:5173/cart";
const DAY = 86_400_000;

let stack;
let dev;
let account;
let saas; // three subscribers and their usage
let store; // paid, pending and older orders
let metered; // the limit boundary
let live; // the one live project
const users = {};

const utcDate = (ms) => new Date(ms).toISOString().slice(0, 10);
const server = (project) => (method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { Authorization: `Bearer ${project.secretKey}`, ...headers }, ...rest });
const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
const db = () => stack.d1();
const pointOn = (series, ms) => series.find((p) => p.date === utcDate(ms));

async function tier(project, body) {
  const res = await catalog("POST", `/v1/projects/${project.project.id}/tiers`, body);
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

async function product(project, body) {
  const res = await catalog("POST", `/v1/projects/${project.project.id}/products`, body);
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

async function customer(project, email, externalId) {
  const res = await server(project)("POST", "/api/customers", { body: { email, externalId } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

/** Buys `tierName` for the end user through the api worker and the sandbox's payment. */
async function subscribe(project, endUser, tierName, onAccount = account) {
  const started = await server(project)("POST", "/api/create-checkout", {
    headers: { "X-User-Id": endUser.id },
    body: { tier: tierName, successUrl: OK, cancelUrl: NO },
  });
  assert.equal(started.status, 200, started.text);
  const done = await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${started.body.sessionId}/complete`, { account: onAccount });
  assert.equal(done.status, 200, JSON.stringify(done.body));
  const row = await (await db()).prepare("SELECT stripe_subscription_id FROM subscriptions WHERE end_user_id = ?1").bind(endUser.id).first();
  assert.ok(row, "the webhook stored the subscription");
  return row.stripe_subscription_id;
}

/** A cart paid through the sandbox (or left open with `pay: false`). */
async function buy(items, { pay = true } = {}) {
  const started = await server(store)("POST", "/api/cart/checkout", { body: { items, successUrl: OK, cancelUrl: NO } });
  assert.equal(started.status, 200, started.text);
  if (pay) {
    const done = await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${started.body.sessionId}/complete`, { account });
    assert.equal(done.status, 200, JSON.stringify(done.body));
  }
  return started.body.sessionId;
}

async function track(project, endUser, times, headers = {}) {
  const answers = [];
  for (let i = 0; i < times; i++) {
    answers.push(await server(project)("POST", "/api/data", { headers: { "X-User-Id": endUser.id, ...headers } }));
  }
  return answers;
}

/** A paid order written as the webhook would have, `daysAgo` days in the past. */
async function pastOrder(project, { daysAgo, amount, currency }) {
  const at = Date.now() - daysAgo * DAY;
  const id = `ord_past${daysAgo}${currency}${Math.random().toString(36).slice(2, 8)}`;
  await (await db())
    .prepare("INSERT INTO orders (id, project_id, status, amount_total, currency, created_at, updated_at, paid_at) VALUES (?1, ?2, 'paid', ?3, ?4, ?5, ?5, ?5)")
    .bind(id, project.project.id, amount, currency, at)
    .run();
  return at;
}

// The dashboards read the ledger the metering objects flush to: settle it first.
const dashboardOf = async (project) => {
  await stack.settleMeters(project.project.id);
  return dev.call("GET", `/v1/projects/${project.project.id}/dashboard`);
};

before(async () => {
  stack = await testStack();
  dev = await signIn(stack, "dash_dev");
  ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));

  // The SaaS scenario: 3 customers (a fourth is deleted), subscriptions at 9.00 and
  // 19.00 a month and 120.00 a year, the 19.00 one canceling at period end.
  saas = await createProject(dev, { name: "Metered app", type: "saas" });
  await tier(saas, { name: "free", displayName: "Free", price: 0, limit: 3 });
  await tier(saas, { name: "pro", displayName: "Pro", price: 900, limit: 100 });
  await tier(saas, { name: "team", displayName: "Team", price: 1900, limit: 1000 });
  await tier(saas, { name: "annual", displayName: "Annual", price: 12000, interval: "year", limit: "unlimited" });
  users.ann = await customer(saas, "ann@example.test", "ann");
  users.bob = await customer(saas, "bob@example.test", "bob");
  users.cyd = await customer(saas, "cyd@example.test", "cyd");
  const gone = await customer(saas, "gone@example.test", "gone");
  assert.equal((await server(saas)("DELETE", `/api/customers/${gone.id}`)).status, 200);
  await subscribe(saas, users.ann, "pro");
  const bobs = await subscribe(saas, users.bob, "team");
  await subscribe(saas, users.cyd, "annual");
  const cancel = await stripeApi(stack, "POST", `/v1/subscriptions/${bobs}`, { account, form: { cancel_at_period_end: "true" } });
  assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
  await track(saas, users.ann, 5);
  await track(saas, users.bob, 2);
  await track(saas, users.cyd, 7);
  await stack.settleMeters(saas.project.id);

  // The store: ebook ×2 + poster ×2 (poster sold out) and sticker ×3 paid today, an ebook
  // cart left open, and two older paid orders (usd 10 days ago, eur 3 days ago).
  store = await createProject(dev, { name: "Shop", type: "store" });
  const ebook = await product(store, { name: "ebook", displayName: "E-book", price: 1500, inventory: 10 });
  const poster = await product(store, { name: "poster", displayName: "Poster", price: 500, inventory: 2 });
  await product(store, { name: "mug", displayName: "Mug", price: 1200, inventory: 4 });
  const sticker = await product(store, { name: "sticker", displayName: "Sticker", price: 100, inventory: null });
  await buy([{ productId: ebook.id, quantity: 2 }, { productId: poster.id, quantity: 2 }]);
  await buy([{ productId: sticker.id, quantity: 3 }]);
  await buy([{ productId: ebook.id, quantity: 1 }], { pay: false });
  users.tenDaysAgo = await pastOrder(store, { daysAgo: 10, amount: 2500, currency: "usd" });
  users.threeDaysAgo = await pastOrder(store, { daysAgo: 3, amount: 1000, currency: "eur" });

  // A project whose end users sit on a free tier of 3 units.
  metered = await createProject(dev, { name: "At the limit", type: "saas" });
  await tier(metered, { name: "free", displayName: "Free", price: 0, limit: 3 });

  live = await createProject(dev, { name: "Live app", type: "saas", mode: "live" });
});
after(() => stack?.stop());

describe("one project's numbers (the issue's scenario)", () => {
  test("three customers at 9.00/month, 19.00/month and 120.00/year make an MRR of 38.00", async () => {
    const res = await dashboardOf(saas);

    assert.equal(res.status, 200, res.text);
    const data = res.body.data;
    assert.equal(data.mode, "test");
    assert.deepEqual(data.projects, [{ id: saas.project.id, name: "Metered app", type: "saas", mode: "test" }]);
    assert.deepEqual(data.mrr, [{ currency: "usd", amount: 3800 }]);
    assert.deepEqual(data.customers, { total: 3, newLast30Days: 3 }, "the deleted end user is not a customer");
  });

  test("the canceling subscription is counted as active and as canceling", async () => {
    const { data } = (await dashboardOf(saas)).body;

    assert.deepEqual(data.subscriptions, { active: 3, trialing: 0, canceling: 1, pastDue: 0 });
    const byName = Object.fromEntries(data.tiers.map((t) => [t.name, t]));
    assert.deepEqual(
      Object.fromEntries(Object.entries(byName).map(([name, t]) => [name, [t.subscribers, t.canceling]])),
      { free: [0, 0], pro: [1, 0], team: [1, 1], annual: [1, 0] },
    );
    assert.equal(byName.annual.interval, "year");
    assert.equal(byName.annual.limit, "unlimited");
    assert.equal(byName.free.isDefault, true);
  });

  test("usage this period is totalled per tier with the heaviest users first", async () => {
    const { data } = (await dashboardOf(saas)).body;

    assert.equal(data.usage.total, 14);
    assert.deepEqual(
      data.usage.byTier.map((t) => [t.name, t.endUsers, t.count]),
      [["annual", 1, 7], ["pro", 1, 5], ["team", 1, 2]],
    );
    assert.deepEqual(
      data.usage.topEndUsers.map((u) => [u.externalId, u.plan, u.count]),
      [["cyd", "annual", 7], ["ann", "pro", 5], ["bob", "team", 2]],
    );
    assert.equal(data.usage.topEndUsers[0].endUserId, users.cyd.id);
  });

  test("the series put today's usage and sign-ups on today, zero-filled over 30 UTC days", async () => {
    const { data } = (await dashboardOf(saas)).body;

    assert.equal(data.series.to, utcDate(Date.now()));
    assert.equal(data.series.from, utcDate(Date.now() - 29 * DAY));
    assert.equal(data.series.usage.length, 30);
    assert.equal(pointOn(data.series.usage, Date.now()).count, 14);
    assert.equal(data.series.usage.reduce((sum, p) => sum + p.count, 0), 14);
    assert.equal(pointOn(data.series.newCustomers, Date.now()).count, 3);
    assert.deepEqual(
      pointOn(data.series.revenue.find((line) => line.currency === "usd").points, Date.now()),
      { date: utcDate(Date.now()), amount: 900 + 1900 + 12000, orders: 0, storeAmount: 0, subscriptionAmount: 900 + 1900 + 12000 },
      "the three first invoices, paid today; no store order",
    );
    assert.deepEqual(data.store.revenue, [], "store revenue is store money only");
  });

  test("recent Stripe events show their outcome and times, never a payload", async () => {
    const { data } = (await dashboardOf(saas)).body;

    assert.ok(data.webhooks.recent.length > 0 && data.webhooks.recent.length <= 10);
    for (const event of data.webhooks.recent) {
      assert.deepEqual(Object.keys(event).sort(), ["created", "id", "livemode", "outcome", "receivedAt", "type"]);
    }
    assert.equal(data.webhooks.lastEventAt, data.webhooks.recent[0].receivedAt);
    const types = data.webhooks.recent.map((e) => e.type);
    assert.ok(types.includes("customer.subscription.updated"), types.join());
    const stored = await (await db()).prepare("SELECT COUNT(*) AS n FROM stripe_events WHERE project_id = ?1 AND outcome = 'applied'").bind(saas.project.id).first();
    assert.equal(data.webhooks.outcomes.applied, stored.n);
  });
});

describe("a store's numbers", () => {
  test("revenue per currency, paid orders and units sold count only what was paid", async () => {
    const { data } = (await dashboardOf(store)).body;

    assert.deepEqual(data.store.revenue, [
      { currency: "eur", amount: 1000 },
      { currency: "usd", amount: 4300 + 2500 },
    ]);
    assert.equal(data.store.orders, 4, "two paid today, two older; the open cart is not an order yet");
    assert.equal(data.store.unitsSold, 7, "2 e-books, 2 posters, 3 stickers; the held e-book is not sold");
    assert.deepEqual(data.mrr, []);
  });

  test("stock counts limited and unlimited products and names the sold-out one", async () => {
    const { store: s } = (await dashboardOf(store)).body.data;

    assert.equal(s.products, 4);
    assert.equal(s.unlimitedProducts, 1);
    assert.equal(s.inventory, 7 + 0 + 4, "e-books 10 − 2 sold − 1 held, posters 0, mugs 4");
    assert.equal(s.lowStock, 1, "the mugs");
    assert.equal(s.soldOut, 1);
    assert.deepEqual(s.soldOutItems.map((p) => [p.name, p.displayName]), [["poster", "Poster"]]);
  });

  test("revenue lands on the day it was paid, one line per currency", async () => {
    const { series } = (await dashboardOf(store)).body.data;

    const [eur, usd] = series.revenue;
    assert.equal(eur.currency, "eur");
    assert.equal(usd.currency, "usd");
    assert.deepEqual(pointOn(usd.points, Date.now()), { date: utcDate(Date.now()), amount: 4300, orders: 2, storeAmount: 4300, subscriptionAmount: 0 });
    assert.deepEqual(pointOn(usd.points, users.tenDaysAgo), { date: utcDate(users.tenDaysAgo), amount: 2500, orders: 1, storeAmount: 2500, subscriptionAmount: 0 });
    assert.equal(pointOn(eur.points, users.threeDaysAgo).amount, 1000);
    assert.equal(usd.points.reduce((sum, p) => sum + p.amount, 0), 6800);
    assert.equal(eur.points.filter((p) => p.amount > 0).length, 1);
  });
});

describe("the daily usage series at the limit", () => {
  test("calls refused at the limit, even in parallel, add nothing to the day", async () => {
    const eve = await customer(metered, "eve@example.test", "eve");

    const answers = await Promise.all(Array.from({ length: 8 }, () => server(metered)("POST", "/api/data", { headers: { "X-User-Id": eve.id } })));

    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 429, 429, 429, 429, 429]);
    const { data } = (await dashboardOf(metered)).body;
    assert.equal(pointOn(data.series.usage, Date.now()).count, 3);
    assert.equal(data.usage.total, 3);
    await stack.settleMeters(metered.project.id);
    const row = await (await db()).prepare("SELECT SUM(count) AS n FROM usage_days WHERE project_id = ?1").bind(metered.project.id).first();
    assert.equal(row.n, 3);
  });

  test("a check (cost 0) adds nothing, a cost adds its units, and a refused cost adds none", async () => {
    const fay = await customer(metered, "fay@example.test", "fay");
    const before = pointOn((await dashboardOf(metered)).body.data.series.usage, Date.now()).count;

    const check = await server(metered)("POST", "/api/data", { headers: { "X-User-Id": fay.id }, body: { cost: 0 } });
    const two = await server(metered)("POST", "/api/data", { headers: { "X-User-Id": fay.id }, body: { cost: 2 } });
    const tooMuch = await server(metered)("POST", "/api/data", { headers: { "X-User-Id": fay.id }, body: { cost: 2 } });

    assert.deepEqual([check.status, two.status, tooMuch.status], [200, 200, 429]);
    const after = pointOn((await dashboardOf(metered)).body.data.series.usage, Date.now()).count;
    assert.equal(after - before, 2);
  });

  test("a call made on an earlier day is on that day, and counts this period only in the same month", async () => {
    const gus = await customer(metered, "gus@example.test", "gus");
    const fiveDaysAgo = Date.now() - 5 * DAY;
    const before = (await dashboardOf(metered)).body.data.usage.total;

    await track(metered, gus, 2, { "X-Tollgate-Dev-Now": String(fiveDaysAgo) });

    const { data } = (await dashboardOf(metered)).body;
    assert.equal(pointOn(data.series.usage, fiveDaysAgo).count, 2);
    const sameMonth = utcDate(fiveDaysAgo).slice(0, 7) === utcDate(Date.now()).slice(0, 7);
    assert.equal(data.usage.total - before, sameMonth ? 2 : 0, "free users' period is the calendar month");
  });
});

describe("GET /api/dashboard (secret key)", () => {
  test("answers ours in data and dream-api's fields beside it, from the same numbers", async () => {
    const res = await server(saas)("GET", "/api/dashboard");
    const console = (await dashboardOf(saas)).body.data;

    assert.equal(res.status, 200, res.text);
    const body = res.body;
    assert.deepEqual({ ...body.data, generatedAt: 0 }, { ...console, generatedAt: 0 });
    assert.deepEqual(
      [body.metrics.mrr, body.metrics.mrrCurrency, body.metrics.activeSubs, body.metrics.cancelingSubs],
      [3800, "usd", 3, 1],
    );
    assert.equal(body.metrics.usageThisPeriod, 14);
    assert.equal(body.metrics.totalCustomers, 3);
    assert.deepEqual(body.filters, { mode: "test", projectId: saas.project.id, publishableKey: saas.project.publishableKey });
    assert.equal(body.webhook.lastEventAt, body.data.webhooks.lastEventAt);
    assert.deepEqual(Object.keys(body.webhook.recent[0]).sort(), ["createdAt", "id", "outcome", "type"]);
  });

  test("lists the newest customers with their plan, usage and subscription as dream-api did", async () => {
    const { customers } = (await server(saas)("GET", "/api/dashboard")).body;

    assert.deepEqual(customers.map((c) => c.externalId).sort(), ["ann", "bob", "cyd"]);
    const bob = customers.find((c) => c.externalId === "bob");
    assert.equal(bob.userId, users.bob.id);
    assert.equal(bob.plan, "team");
    assert.equal(bob.status, "active");
    assert.equal(bob.usageCount, 2);
    assert.equal(bob.limit, 1000);
    assert.equal(bob.amount, 1900);
    assert.match(bob.subscriptionId, /^sub_/);
    assert.ok(!Number.isNaN(Date.parse(bob.periodStart)) && !Number.isNaN(Date.parse(bob.currentPeriodEnd)));
    assert.equal(customers.find((c) => c.externalId === "cyd").limit, "unlimited");
  });

  test("shows key metadata and the catalog, never a secret", async () => {
    const res = await server(saas)("GET", "/api/dashboard");

    const { keys, tiers } = res.body;
    assert.equal(keys.secretKeyMasked, `${saas.secretKey.slice(0, 8)}…${saas.secretKey.slice(-4)}`);
    assert.equal(keys.apiKeys.length, 1);
    assert.equal(keys.stripeAccountId, account);
    assert.match(keys.platformId, /^plt_/);
    assert.ok(!res.text.includes(saas.secretKey), "the secret key never appears");
    assert.deepEqual(tiers.map((t) => [t.name, t.billingMode]).sort(), [
      ["annual", "subscription"], ["free", "subscription"], ["pro", "subscription"], ["team", "subscription"],
    ]);
  });

  test("a store's catalog lists its products with their stock", async () => {
    const { tiers, metrics } = (await server(store)("GET", "/api/dashboard")).body;

    const poster = tiers.find((t) => t.name === "poster");
    assert.deepEqual([poster.billingMode, poster.inventory, poster.soldOut], ["one_off", 0, true]);
    assert.equal(tiers.find((t) => t.name === "sticker").inventory, null);
    assert.deepEqual(
      [metrics.storeSalesCount, metrics.storeTotalRevenue, metrics.storeRevenueCurrency, metrics.lowStockProducts, metrics.totalInventory],
      [4, 6800, "usd", 1, 11],
    );
  });

  test("a publishable key, with or without an end-user token, is refused", async () => {
    const token = (await server(saas)("POST", "/api/customer-token", { body: { userId: users.ann.id } })).body.data.token;
    const browser = { "X-Publishable-Key": saas.project.publishableKey };

    const bare = await stack.call("api", "GET", "/api/dashboard", { headers: browser });
    const withToken = await stack.call("api", "GET", "/api/dashboard", { headers: { ...browser, "X-End-User-Token": token } });
    const none = await stack.call("api", "GET", "/api/dashboard");

    assert.deepEqual([bare.status, bare.body.code], [403, "forbidden"]);
    assert.deepEqual([withToken.status, withToken.body.code], [403, "forbidden"]);
    assert.deepEqual([none.status, none.body.code], [401, "missing_credentials"]);
  });
});

describe("the developer's dashboards", () => {
  test("another developer's project answers 404, and their totals show none of it", async () => {
    const other = await signIn(stack, "dash_other");

    const res = await other.call("GET", `/v1/projects/${saas.project.id}/dashboard`);
    const totals = await other.call("GET", "/v1/dashboard?mode=test");

    assert.deepEqual([res.status, res.body.code], [404, "not_found"]);
    assert.equal(totals.status, 200);
    assert.deepEqual(totals.body.data.projects, []);
    assert.deepEqual([totals.body.data.customers.total, totals.body.data.mrr, totals.body.data.store.orders], [0, [], 0]);
  });

  test("test totals sum every test project, per currency", async () => {
    const res = await dev.call("GET", "/v1/dashboard?mode=test");

    assert.equal(res.status, 200, res.text);
    const data = res.body.data;
    const one = await Promise.all([saas, store, metered].map(async (p) => (await dashboardOf(p)).body.data));
    assert.equal(data.mode, "test");
    assert.deepEqual(data.projects.map((p) => p.id).sort(), [saas, store, metered].map((p) => p.project.id).sort());
    assert.deepEqual(data.mrr, [{ currency: "usd", amount: 3800 }]);
    assert.equal(data.customers.total, one.reduce((sum, d) => sum + d.customers.total, 0));
    assert.equal(data.usage.total, one.reduce((sum, d) => sum + d.usage.total, 0));
    assert.deepEqual(data.store.revenue, one[1].store.revenue);
    assert.equal(data.tiers.length, one[0].tiers.length + one[2].tiers.length);
    const today = (d) => pointOn(d.series.usage, Date.now()).count;
    assert.equal(today(data), one.reduce((sum, d) => sum + today(d), 0));
  });

  test("live totals (the default) count only live projects: test and live never mix", async () => {
    const at = Date.now();
    await (await db())
      .prepare("INSERT INTO end_users (id, project_id, email, created_at, updated_at) VALUES (?1, ?2, 'live@example.test', ?3, ?3)")
      .bind(`cus_live${at}`, live.project.id, at)
      .run();

    const res = await dev.call("GET", "/v1/dashboard");
    const one = await dashboardOf(live);

    assert.equal(res.status, 200, res.text);
    const data = res.body.data;
    assert.equal(data.mode, "live");
    assert.deepEqual(data.projects.map((p) => p.id), [live.project.id]);
    assert.deepEqual([data.customers.total, data.mrr, data.store.revenue, data.usage.total], [1, [], [], 0]);
    assert.equal(one.body.data.mode, "live");
    assert.equal(one.body.data.customers.total, 1);
  });

  test("a deleted project answers 404 and leaves the totals", async () => {
    const temp = await createProject(dev, { name: "Short-lived", type: "saas" });
    await customer(temp, "temp@example.test", "temp");
    const before = (await dev.call("GET", "/v1/dashboard?mode=test")).body.data.customers.total;
    const fresh = await signIn(stack, "dash_dev");
    assert.equal((await fresh.call("DELETE", `/v1/projects/${temp.project.id}`)).status, 200);

    const res = await dev.call("GET", `/v1/projects/${temp.project.id}/dashboard`);
    const after = (await dev.call("GET", "/v1/dashboard?mode=test")).body.data.customers.total;

    assert.equal(res.status, 404);
    assert.equal(before - after, 1);
  });

  test("an unknown mode is refused with the field named; no credential is refused", async () => {
    const cases = [
      ["/v1/dashboard?mode=both", { headers: {} }, 422, "validation_failed"],
      ["/v1/dashboard?mode=LIVE", { headers: {} }, 422, "validation_failed"],
    ];
    for (const [path, options, status, code] of cases) {
      const res = await dev.call("GET", path, options);
      assert.deepEqual([res.status, res.body.code], [status, code], path);
      assert.deepEqual(res.body.fieldErrors, { mode: ["must be test or live"] }, path);
    }
    const anonymous = await stack.call("platform", "GET", "/v1/dashboard");
    assert.equal(anonymous.status, 401);
  });
});

describe("an upgrade and a subscription's money, every figure agreeing (issue 21)", () => {
  // Another developer, so the totals the tests above add up stay as they are.
  let owner;
  let ownAccount;
  let upgrades; // free → a $19 tier → a $49 one
  let paid; // one $19 subscription, then refunds
  let eve; // the upgrading end user
  const as = (endUser) => ({ headers: { "X-User-Id": endUser.id } });
  const today = () => utcDate(Date.now());

  /** Every figure that describes one end user's usage, as each route answers it. */
  async function figures(project, endUser) {
    await stack.settleMeters(project.project.id);
    const usage = (await server(project)("GET", "/api/usage", as(endUser))).body;
    const detail = (await stack.call("catalog", "GET", `/v1/projects/${project.project.id}/customers/${endUser.id}`, { headers: { Authorization: `Bearer ${owner.token}` } })).body.data;
    const row = (await stack.call("catalog", "GET", `/v1/projects/${project.project.id}/customers`, { headers: { Authorization: `Bearer ${owner.token}` } })).body.data.find((c) => c.id === endUser.id);
    const board = (await owner.call("GET", `/v1/projects/${project.project.id}/dashboard`)).body.data;
    const dream = (await server(project)("GET", "/api/dashboard")).body;
    return { usage, detail, row, board, dream };
  }

  before(async () => {
    owner = await signIn(stack, "dash_upgrades");
    ({ connection: { accountId: ownAccount } } = await connectStripe(stack, owner, "test"));
    const tierOf = async (project, body) => {
      const res = await stack.call("catalog", "POST", `/v1/projects/${project.project.id}/tiers`, { headers: { Authorization: `Bearer ${owner.token}` }, body });
      assert.equal(res.status, 201, res.text);
    };
    upgrades = await createProject(owner, { name: "Upgrades", type: "saas" });
    paid = await createProject(owner, { name: "Paid", type: "saas" });
    for (const project of [upgrades, paid]) {
      await tierOf(project, { name: "free", displayName: "Free", price: 0, limit: 200 });
      await tierOf(project, { name: "team", displayName: "Team", price: 1900, limit: 5000 });
      await tierOf(project, { name: "scale", displayName: "Scale", price: 4900, limit: 20000 });
    }
  });

  test("100 free units, then a $19 tier bought: Stripe's new period starts at 0, and the usage, the customer, the dashboard's total and today's currentPeriod all say 3 while today's count says 103", async () => {
    eve = await customer(upgrades, "eve@example.test", "eve");
    const free = await server(upgrades)("POST", "/api/data", { ...as(eve), body: { cost: 100 } });
    assert.equal(free.status, 200, free.text);
    const freeMonth = free.body.usage.periodStart;

    await subscribe(upgrades, eve, "team", ownAccount);
    for (let i = 0; i < 3; i++) assert.equal((await server(upgrades)("POST", "/api/data", as(eve))).status, 200);

    const { usage, detail, row, board, dream } = await figures(upgrades, eve);
    const sub = await (await db()).prepare("SELECT current_period_start AS start FROM subscriptions WHERE end_user_id = ?1").bind(eve.id).first();
    assert.deepEqual([usage.plan, usage.count, usage.limit], ["team", 3, 5000]);
    assert.equal(Date.parse(usage.periodStart), sub.start, "the period is Stripe's");
    assert.notEqual(usage.periodStart, freeMonth, "not the free tier's calendar month");
    assert.deepEqual([detail.usage.count, detail.usage.periodStart, row.usage.count], [3, sub.start, 3]);
    assert.deepEqual(detail.usageHistory.at(-1), { date: today(), count: 103, currentPeriod: 3 });
    assert.equal(board.usage.total, 3);
    assert.deepEqual(board.usage.byTier.map((t) => [t.name, t.count]), [["team", 3]]);
    assert.deepEqual(pointOn(board.series.usage, Date.now()), { date: today(), count: 103, currentPeriod: 3 });
    assert.equal(board.series.usage.reduce((sum, p) => sum + p.currentPeriod, 0), board.usage.total, "the days add up to this period");
    assert.equal(dream.metrics.usageThisPeriod, 3);
    assert.equal(dream.customers.find((c) => c.userId === eve.id).usageCount, 3);
  });

  test("a tier change within the period keeps counting: 3 more after the upgrade to $49 make 6 in the same period, under the new limit", async () => {
    const before = (await server(upgrades)("GET", "/api/usage", as(eve))).body;

    const change = await server(upgrades)("POST", "/api/subscription/change", { ...as(eve), body: { tier: "scale" } });
    assert.equal(change.status, 200, change.text);
    assert.equal(change.body.data.change.status, "applied");
    for (let i = 0; i < 3; i++) assert.equal((await server(upgrades)("POST", "/api/data", as(eve))).status, 200);

    const { usage, detail, board } = await figures(upgrades, eve);
    assert.deepEqual([usage.plan, usage.count, usage.limit], ["scale", 6, 20000]);
    assert.deepEqual([usage.periodStart, usage.periodEnd], [before.periodStart, before.periodEnd], "Stripe kept the period");
    assert.equal(detail.usage.count, 6);
    assert.deepEqual(detail.usageHistory.at(-1), { date: today(), count: 106, currentPeriod: 6 });
    assert.equal(board.usage.total, 6);
    assert.deepEqual(pointOn(board.series.usage, Date.now()), { date: today(), count: 106, currentPeriod: 6 });
  });

  test("a paid $19/month subscription is 1900 in today's revenue point beside an MRR of 1900, and refunds net it", async () => {
    const fay = await customer(paid, "fay@example.test", "fay");
    await subscribe(paid, fay, "team", ownAccount);
    const revenueToday = async () => {
      const board = (await owner.call("GET", `/v1/projects/${paid.project.id}/dashboard`)).body.data;
      return { board, point: pointOn(board.series.revenue.find((l) => l.currency === "usd")?.points ?? [], Date.now()) };
    };

    const { board, point } = await revenueToday();
    assert.deepEqual(board.mrr, [{ currency: "usd", amount: 1900 }]);
    assert.deepEqual(point, { date: today(), amount: 1900, orders: 0, storeAmount: 0, subscriptionAmount: 1900 });
    assert.deepEqual(board.store.revenue, [], "subscription money is not store revenue");

    const { stripe_customer_id: stripeCustomer } = await (await db()).prepare("SELECT stripe_customer_id FROM subscriptions WHERE end_user_id = ?1").bind(fay.id).first();
    const charges = (await stripeApi(stack, "GET", `/v1/charges?customer=${stripeCustomer}`, { account: ownAccount })).body.data;
    assert.deepEqual(charges.map((c) => c.amount), [1900]);
    const part = await stripeApi(stack, "POST", "/v1/refunds", { account: ownAccount, form: { charge: charges[0].id, amount: "500" } });
    assert.equal(part.status, 200, JSON.stringify(part.body));
    assert.deepEqual((await revenueToday()).point, { date: today(), amount: 1400, orders: 0, storeAmount: 0, subscriptionAmount: 1400 });

    const rest = await stripeApi(stack, "POST", "/v1/refunds", { account: ownAccount, form: { charge: charges[0].id } });
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    const after = await revenueToday();
    assert.deepEqual([after.point.amount, after.point.subscriptionAmount], [0, 0]);
    assert.deepEqual(after.board.mrr, [{ currency: "usd", amount: 1900 }], "a refund is money back, not a canceled subscription");
  });
});
