// An existing dream-api integration, pointed at Tollgate: a client that calls the customer API
// the way dream-api's SDK does (plain `fetch`, `Content-Type: application/json` on every call,
// `Authorization: Bearer sk_…` plus `X-Publishable-Key` from a server, `X-Publishable-Key`
// alone from a browser, the end user's token in `X-Clerk-Token`), through the one origin, and
// reading the fields dream-api's client reads. Where Tollgate answers differently on purpose
// (docs/migrating-from-dream-api.md), the test says so in its name and asserts Tollgate's
// documented answer. Every answer is still checked against the contract.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { checkResponse } from "./support/contract.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/success";
const NO = "http://127.0.0.1:5173/pricing";

let stack;
let saas;
let store;
let ebook;
let counter = 0;

before(async () => {
  stack = await testStack();
  const dev = await signIn(stack, "dev_dreamapi");
  await connectStripe(stack, dev, "test");
  const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
  saas = await createProject(dev, { name: "Dream SaaS", type: "saas" });
  for (const tier of [
    { name: "free", displayName: "Free", price: 0, limit: 3 },
    { name: "pro", displayName: "Pro", price: 900, limit: 100, features: ["Priority support"], popular: true },
  ]) {
    const res = await catalog("POST", `/v1/projects/${saas.project.id}/tiers`, tier);
    assert.equal(res.status, 201, res.text);
  }
  store = await createProject(dev, { name: "Dream Store", type: "store" });
  const made = await catalog("POST", `/v1/projects/${store.project.id}/products`, { name: "ebook", displayName: "E-book", price: 1500, inventory: 10 });
  assert.equal(made.status, 201, made.text);
  ebook = made.body.data;
});
after(() => stack?.stop());

/**
 * A dream-api-style client: `{ secretKey, publishableKey }` pick the mode as dream-api's SDK
 * does (a secret key wins, the publishable key rides along), `userToken` goes in
 * `X-Clerk-Token`, `userId` in `X-User-Id`, and a body is sent only when there is one.
 */
function dreamClient({ secretKey, publishableKey, userToken, userId }) {
  return async function request(method, endpoint, body) {
    const headers = { "Content-Type": "application/json" };
    if (userId) headers["X-User-Id"] = userId;
    if (secretKey) {
      headers.Authorization = `Bearer ${secretKey}`;
      if (publishableKey) headers["X-Publishable-Key"] = publishableKey;
    } else {
      headers["X-Publishable-Key"] = publishableKey;
    }
    if (userToken) headers["X-Clerk-Token"] = userToken;
    const res = await fetch(`${stack.urls.gateway}${endpoint}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    const json = JSON.parse(text);
    checkResponse({ worker: "api", method, path: endpoint, status: res.status, headers: res.headers, body: json, text });
    return { status: res.status, body: json, text };
  };
}

const backend = (project, userToken) => dreamClient({ secretKey: project.secretKey, publishableKey: project.project.publishableKey, userToken });
const frontend = (project, userToken) => dreamClient({ publishableKey: project.project.publishableKey, userToken });

/** A new end user of `project` and their end-user token (Tollgate's own, from POST /api/customer-token). */
async function endUser(project = saas, body = {}) {
  const api = backend(project);
  const made = await api("POST", "/api/customers", { email: `dream${++counter}@example.test`, ...body });
  assert.equal(made.status, 201, made.text);
  const minted = await api("POST", "/api/customer-token", { userId: made.body.customer.id });
  assert.equal(minted.status, 200, minted.text);
  return { id: made.body.customer.id, token: minted.body.data.token };
}

describe("usage", () => {
  test("backend mode (sk + X-Publishable-Key + X-Clerk-Token, no X-User-Id) counts on POST /api/data and reads on GET /api/usage", async () => {
    const user = await endUser();
    const api = backend(saas, user.token);

    const tracked = await api("POST", "/api/data");

    assert.equal(tracked.status, 200, tracked.text);
    assert.equal(tracked.body.success, true);
    assert.equal(typeof tracked.body.data.message, "string");
    assert.equal(tracked.body.usage.count, 1, "the server's name");
    assert.equal(tracked.body.usage.usageCount, 1, "the name dream-api's SDK types declare");
    assert.equal(tracked.body.usage.limit, 3);
    assert.equal(tracked.body.usage.plan, "free");

    const usage = await api("GET", "/api/usage");

    assert.equal(usage.status, 200, usage.text);
    assert.equal(usage.body.userId, user.id);
    assert.equal(usage.body.plan, "free");
    assert.equal(usage.body.usageCount, 1);
    assert.equal(usage.body.limit, 3);
    assert.equal(usage.body.remaining, 2);
    assert.ok(Date.parse(usage.body.periodStart) < Date.parse(usage.body.periodEnd));
  });

  test("frontend mode (pk + X-Clerk-Token) counts and reads the same end user's usage", async () => {
    const user = await endUser();
    const api = frontend(saas, user.token);

    const tracked = await api("POST", "/api/data");
    const usage = await api("GET", "/api/usage");

    assert.equal(tracked.status, 200, tracked.text);
    assert.equal(tracked.body.usage.count, 1);
    assert.equal(usage.status, 200, usage.text);
    assert.equal(usage.body.usageCount, 1);
    assert.equal(usage.body.remaining, 2);
  });

  test("the older backend style, sk + X-User-Id, names the same counter as the end user's token", async () => {
    const user = await endUser();
    await backend(saas, user.token)("POST", "/api/data");

    const res = await dreamClient({ secretKey: saas.secretKey, userId: user.id })("GET", "/api/usage");

    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.usageCount, 1);
  });

  test("difference: at the limit Tollgate answers 429 usage_limit_reached with the usage inside `usage` (dream-api: 403 with usageCount and limit at the top)", async () => {
    const user = await endUser();
    const api = frontend(saas, user.token);
    for (let i = 0; i < 3; i++) assert.equal((await api("POST", "/api/data")).status, 200);

    const refused = await api("POST", "/api/data");

    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.body.code, "usage_limit_reached");
    assert.equal(typeof refused.body.error, "string");
    assert.equal(refused.body.usage.usageCount, 3);
    assert.equal(refused.body.usage.limit, 3);
  });

  test("frontend mode without an end-user token is refused with 401, as in dream-api", async () => {
    const res = await frontend(saas)("POST", "/api/data");

    assert.equal(res.status, 401, res.text);
    assert.equal(res.body.code, "invalid_end_user_token");
  });
});

describe("catalog", () => {
  test("GET /api/tiers answers `tiers` with dream-api's tier fields, price in cents", async () => {
    const res = await frontend(saas)("GET", "/api/tiers");

    assert.equal(res.status, 200, res.text);
    const pro = res.body.tiers.find((t) => t.name === "pro");
    assert.equal(pro.displayName, "Pro");
    assert.equal(pro.price, 900);
    assert.equal(pro.limit, 100);
    assert.equal(pro.popular, true);
    assert.deepEqual(pro.features, ["Priority support"]);
    assert.equal(pro.billingMode, "subscription");
    assert.match(pro.priceId, /^price_/);
    assert.equal(pro.stripePriceId, pro.priceId);
    assert.match(pro.productId, /^prod_/);
    assert.equal(res.body.tiers.find((t) => t.name === "free").limit, 3);
  });

  test("GET /api/products answers `products` with dream-api's product fields", async () => {
    const res = await frontend(store)("GET", "/api/products");

    assert.equal(res.status, 200, res.text);
    const [product] = res.body.products;
    assert.equal(product.id, ebook.id);
    assert.equal(product.name, "ebook");
    assert.equal(product.displayName, "E-book");
    assert.equal(product.price, 1500);
    assert.equal(product.currency, "usd");
    assert.equal(product.inventory, 10);
    assert.equal(product.soldOut, false);
    assert.match(product.priceId, /^price_/);
    assert.match(product.productId, /^prod_/);
  });
});

describe("customers", () => {
  test("create (password accepted and dropped), get, update the plan, delete: each read from `customer`, `success` and `deleted`", async () => {
    const api = backend(saas);

    const made = await api("POST", "/api/customers", { email: "ada@example.test", password: "hunter2hunter2", firstName: "Ada", lastName: "L", plan: "pro" });

    assert.equal(made.status, 201, made.text);
    assert.equal(made.body.success, true);
    const { customer } = made.body;
    assert.equal(customer.email, "ada@example.test");
    assert.equal(customer.firstName, "Ada");
    assert.equal(customer.lastName, "L");
    assert.equal(customer.plan, "pro");
    assert.equal(customer.publishableKey, saas.project.publishableKey);
    assert.equal(typeof customer.createdAt, "number");

    const got = await api("GET", `/api/customers/${customer.id}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.customer.email, "ada@example.test");
    assert.equal((await backend(store)("GET", `/api/customers/${customer.id}`)).status, 404, "another project's customer");

    const updated = await api("PATCH", `/api/customers/${customer.id}`, { plan: "free" });
    assert.equal(updated.status, 200, updated.text);
    assert.equal(updated.body.success, true);
    assert.equal(updated.body.customer.plan, "free");

    const deleted = await api("DELETE", `/api/customers/${customer.id}`);
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(deleted.body.success, true);
    assert.equal(deleted.body.deleted.id, customer.id);
    assert.equal(deleted.body.deleted.email, "ada@example.test");
    assert.equal((await api("GET", `/api/customers/${customer.id}`)).status, 404);
  });

  test("difference: a customer created without a plan reads `plan: null` (the project's default tier applies; dream-api wrote 'free')", async () => {
    const made = await backend(saas)("POST", "/api/customers", { email: "noplan@example.test" });

    assert.equal(made.status, 201, made.text);
    assert.equal(made.body.customer.plan, null);
  });

  test("difference: a plan change keeps the period's usage (dream-api reset it to 0)", async () => {
    const user = await endUser();
    await backend(saas, user.token)("POST", "/api/data");

    await backend(saas)("PATCH", `/api/customers/${user.id}`, { plan: "pro" });
    const usage = await backend(saas, user.token)("GET", "/api/usage");

    assert.equal(usage.body.plan, "pro");
    assert.equal(usage.body.usageCount, 1);
  });

  test("difference: a missing email is 422 validation_failed naming `email` (dream-api: 400)", async () => {
    const res = await backend(saas)("POST", "/api/customers", { firstName: "Nobody" });

    assert.equal(res.status, 422, res.text);
    assert.ok(res.body.fieldErrors.email);
  });

  test("the customer routes need the secret key: the publishable key gets 403, as in dream-api", async () => {
    const res = await frontend(saas)("POST", "/api/customers", { email: "browser@example.test" });

    assert.equal(res.status, 403, res.text);
  });
});

describe("checkout", () => {
  test("a subscription checkout in backend mode answers `url` (and `sessionId`)", async () => {
    const user = await endUser();

    const res = await backend(saas, user.token)("POST", "/api/create-checkout", { tier: "pro", successUrl: OK, cancelUrl: NO });

    assert.equal(res.status, 200, res.text);
    assert.match(res.body.url, /^https?:\/\//);
    assert.match(res.body.sessionId, /^cs_/);
  });

  test("a subscription checkout in frontend mode answers `url`", async () => {
    const user = await endUser();

    const res = await frontend(saas, user.token)("POST", "/api/create-checkout", { tier: "pro", successUrl: OK, cancelUrl: NO });

    assert.equal(res.status, 200, res.text);
    assert.match(res.body.url, /^https?:\/\//);
  });

  test("difference: another tier's priceId beside `tier` is 400 price_mismatch (dream-api charged the price it was sent)", async () => {
    const user = await endUser();

    const res = await frontend(saas, user.token)("POST", "/api/create-checkout", { tier: "pro", priceId: "price_cheaper", successUrl: OK, cancelUrl: NO });

    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.code, "price_mismatch");
  });

  test("difference: successUrl and cancelUrl are required, on the project's origins (dream-api fell back to the Origin header)", async () => {
    const user = await endUser();

    const res = await frontend(saas, user.token)("POST", "/api/create-checkout", { tier: "pro" });

    assert.equal(res.status, 422, res.text);
    assert.ok(res.body.fieldErrors.successUrl);
    assert.ok(res.body.fieldErrors.cancelUrl);
  });

  test("a guest cart checkout with the publishable key answers `url`", async () => {
    const api = frontend(store);

    const res = await api("POST", "/api/cart/checkout", { items: [{ priceId: ebook.stripePriceId, quantity: 2 }], email: "buyer@example.test", successUrl: OK, cancelUrl: NO });

    assert.equal(res.status, 200, res.text);
    assert.match(res.body.url, /^https?:\/\//);
  });

  test("a cart checkout with the secret key answers `url`", async () => {
    const res = await backend(store)("POST", "/api/cart/checkout", { items: [{ productId: ebook.id }], successUrl: OK, cancelUrl: NO });

    assert.equal(res.status, 200, res.text);
    assert.match(res.body.url, /^https?:\/\//);
  });

  test("a backend-mode cart (sk + X-Clerk-Token, `name` from customerName) answers `url` and is the token's end user's order", async () => {
    const user = await endUser(store);

    const res = await backend(store, user.token)("POST", "/api/cart/checkout", { items: [{ productId: ebook.id }], name: "Ada Lovelace", successUrl: OK, cancelUrl: NO });

    assert.equal(res.status, 200, res.text);
    assert.match(res.body.url, /^https?:\/\//);
    const order = await (await stack.d1()).prepare("SELECT end_user_id FROM orders WHERE id = ?1").bind(res.body.orderId).first();
    assert.equal(order?.end_user_id, user.id);
  });

  test("the billing portal answers `url` for an end user with a Stripe customer, given a returnUrl", async () => {
    const user = await endUser();
    const api = frontend(saas, user.token);
    assert.equal((await api("POST", "/api/create-checkout", { tier: "pro", successUrl: OK, cancelUrl: NO })).status, 200);

    const res = await api("POST", "/api/customer-portal", { returnUrl: NO });

    assert.equal(res.status, 200, res.text);
    assert.match(res.body.url, /^https?:\/\//);
  });
});

describe("dashboard", () => {
  test("GET /api/dashboard with the secret key answers dream-api's metrics, customers, tiers, keys and webhook", async () => {
    await endUser();

    const res = await backend(saas)("GET", "/api/dashboard");

    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.body.metrics.activeSubs, "number");
    assert.equal(typeof res.body.metrics.mrr, "number");
    assert.ok(res.body.customers.length > 0);
    assert.ok(res.body.tiers.some((t) => t.name === "pro"));
    assert.equal(res.body.keys.publishableKey, saas.project.publishableKey);
    assert.ok(Array.isArray(res.body.webhook.recent));
  });

  test("difference: the publishable key gets 403 on the dashboard (dream-api's console read it from the browser with the secret key)", async () => {
    const res = await frontend(saas)("GET", "/api/dashboard");

    assert.equal(res.status, 403, res.text);
    assert.equal(res.body.code, "forbidden");
  });
});
