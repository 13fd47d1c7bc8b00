// @tollgate/sdk against the real local stack, every call through the one origin (the
// gateway): each client method once at least, the typed errors the stack really answers, a
// subscription and a cart bought in the Stripe sandbox and followed to paid, and real
// outbound deliveries verified by the SDK's webhook verifier (rotation included). Every
// answer the SDK receives is also checked against the contract.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  EntitlementRequiredError,
  InvalidApiKeyError,
  NotFoundError,
  SoldOutError,
  Tollgate,
  TollgateBrowser,
  TollgateError,
  UsageLimitError,
  ValidationError,
  Webhook,
  WebhookVerificationError,
} from "../sdk/dist/index.js";
import { checkResponse } from "./support/contract.mjs";
import { createProject, signIn, uploadAsset } from "./support/developer.mjs";
import { startReceiver } from "./support/sandbox.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks?session={CHECKOUT_SESSION_ID}";
const NO = "http://127.0.0.1:5173/plans";
const FILE = Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(256, 0x42)]);

let stack;
let receiver;
let dev;
let account;
let saas;
let shop;
let guide;
let scarce;
let hook;
let counter = 0;

/** fetch, with every answer checked against the contract as the api worker's. */
async function checkedFetch(url, init = {}) {
  const res = await fetch(url, init);
  const { pathname, search } = new URL(url);
  const stream = res.headers.get("content-type")?.startsWith("text/event-stream");
  const text = stream ? "" : await res.clone().text();
  const body = text ? JSON.parse(text) : undefined;
  checkResponse({ worker: "api", method: init.method ?? "GET", path: pathname + search, status: res.status, headers: res.headers, body, text });
  return res;
}

const server = (app) => new Tollgate({ secretKey: app.secretKey, baseUrl: stack.urls.gateway, fetch: checkedFetch });
/** A browser client for `userId`, whose token provider is the server client minting tokens. */
function browserFor(app, userId, { expiresIn } = {}) {
  let minted = 0;
  const client = new TollgateBrowser({
    publishableKey: app.project.publishableKey,
    baseUrl: stack.urls.gateway,
    fetch: checkedFetch,
    getEndUserToken: () => (minted++, server(app).tokens.create({ userId, expiresIn })),
  });
  return { client, minted: () => minted };
}
const control = (path) => stripeApi(stack, "POST", `/_sandbox${path}`, { account });
const email = () => `sdk${++counter}@example.test`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function eventually(check, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(100);
  }
}

before(async () => {
  receiver = await startReceiver();
  stack = await testStack({ vars: { WEBHOOK_RETRY_BASE_SECONDS: "1" } });
  dev = await signIn(stack, "dev_sdk");
  ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
  const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });

  saas = await createProject(dev, { name: "SDK saas", type: "saas" });
  for (const tier of [
    { name: "free", displayName: "Free", price: 0, limit: 3 },
    { name: "pro", displayName: "Pro", price: 900, limit: 100, popular: true },
    { name: "team", displayName: "Team", price: 2900, limit: 1000 },
  ]) {
    const res = await catalog("POST", `/v1/projects/${saas.project.id}/tiers`, tier);
    assert.equal(res.status, 201, res.text);
  }

  shop = await createProject(dev, { name: "SDK shop", type: "store" });
  const asset = await uploadAsset(stack, shop, FILE, { filename: "guide.pdf", visibility: "private" });
  const made = await catalog("POST", `/v1/projects/${shop.project.id}/products`, { name: "guide", displayName: "The guide", price: 1500, assetId: asset.id });
  assert.equal(made.status, 201, made.text);
  guide = made.body.data;
  const few = await catalog("POST", `/v1/projects/${shop.project.id}/products`, { name: "poster", displayName: "Poster", price: 500, inventory: 1 });
  assert.equal(few.status, 201, few.text);
  scarce = few.body.data;

  const created = await stack.call("webhooks", "POST", `/v1/projects/${saas.project.id}/webhook-endpoints`, {
    headers: { Authorization: `Bearer ${dev.token}` },
    body: { url: `${receiver.url}/sdk`, events: ["*"] },
  });
  assert.equal(created.status, 201, created.text);
  hook = created.body.data;
});
after(async () => {
  await stack?.stop();
  await receiver?.close();
});

describe("the server client", () => {
  test("project() names the key's project on the secret lane", async () => {
    const project = await server(saas).project();
    assert.equal(project.projectId, saas.project.id);
    assert.equal(project.lane, "secret");
    assert.equal(project.type, "saas");
  });

  test("customers: create, get by id and by externalId, update, list, iterate every page, delete", async () => {
    const tollgate = server(saas);
    const ada = await tollgate.customers.create({ email: email(), externalId: "sdk-ada", firstName: "Ada" });
    assert.match(ada.id, /^cus_/);
    assert.equal((await tollgate.customers.get(ada.id)).externalId, "sdk-ada");
    assert.equal((await tollgate.customers.get("sdk-ada")).id, ada.id);

    const renamed = await tollgate.customers.update("sdk-ada", { lastName: "Lovelace" });
    assert.equal(renamed.lastName, "Lovelace");
    assert.equal(renamed.firstName, "Ada");

    for (let i = 0; i < 4; i++) await tollgate.customers.create({ email: email() });
    const page = await tollgate.customers.list({ pageSize: 2 });
    assert.equal(page.data.length, 2);
    assert.ok(page.total >= 5);
    const all = [];
    for await (const customer of tollgate.customers.iterate({ pageSize: 2 })) all.push(customer.id);
    assert.equal(all.length, page.total);
    assert.equal(new Set(all).size, all.length, "no customer twice across pages");
    assert.ok(all.includes(ada.id));
    const byEmail = await tollgate.customers.list({ email: ada.email });
    assert.deepEqual(byEmail.data.map((c) => c.id), [ada.id]);

    const deleted = await tollgate.customers.delete(ada.id);
    assert.deepEqual(deleted, { id: ada.id, deleted: true });
    await assert.rejects(tollgate.customers.get(ada.id), (e) => e instanceof NotFoundError && e.status === 404 && /^req_/.test(e.requestId));
  });

  test("the stack's errors arrive typed: a bad key, invalid fields, a duplicate externalId", async () => {
    const stranger = new Tollgate({ secretKey: "sk_test_doesnotexist000000000000000", baseUrl: stack.urls.gateway, fetch: checkedFetch });
    await assert.rejects(stranger.project(), (e) => e instanceof InvalidApiKeyError && e.status === 401 && e.code === "invalid_api_key");

    const tollgate = server(saas);
    const invalid = await tollgate.customers.create({ email: email(), plan: "Not A Slug" }).catch((e) => e);
    assert.ok(invalid instanceof ValidationError, invalid);
    assert.ok(invalid.fieldErrors.plan?.length, JSON.stringify(invalid.fieldErrors));

    await tollgate.customers.create({ email: email(), externalId: "sdk-twice" });
    const twice = await tollgate.customers.create({ email: email(), externalId: "sdk-twice" }).catch((e) => e);
    assert.ok(twice instanceof TollgateError);
    assert.equal(twice.code, "duplicate_external_id");
    assert.equal(twice.status, 409);
  });

  test("usage: track counts, the same idempotency key counts once, check reads, the limit is a UsageLimitError", async () => {
    const tollgate = server(saas);
    const { id } = await tollgate.customers.create({ email: email() });

    const first = await tollgate.usage.track({ userId: id, idempotencyKey: "sdk-call-1" });
    assert.equal(first.usage.count, 1);
    const replay = await tollgate.usage.track({ userId: id, idempotencyKey: "sdk-call-1" });
    assert.equal(replay.usage.count, 1, "a replay never counts twice");
    await tollgate.usage.track({ userId: id, cost: 2 });

    const checked = await tollgate.usage.check({ userId: id });
    assert.equal(checked.count, 3);
    assert.equal(checked.remaining, 0);
    assert.equal(checked.plan, "free");
    assert.equal(checked.userId, id);

    const limit = await tollgate.usage.track({ userId: id }).catch((e) => e);
    assert.ok(limit instanceof UsageLimitError, limit);
    assert.equal(limit.status, 429);
    assert.equal(limit.usage.remaining, 0);
    assert.ok(limit.retryAfter > 60, "Retry-After names the period's end");
    assert.equal((await tollgate.usage.check({ userId: id })).count, 3);
  });

  test("catalog: tiers with the popular one, products", async () => {
    const tiers = await server(saas).catalog.tiers();
    assert.deepEqual(tiers.map((t) => t.name).sort(), ["free", "pro", "team"]);
    assert.equal(tiers.find((t) => t.popular)?.name, "pro");
    const products = await server(shop).catalog.products();
    assert.deepEqual(products.map((p) => p.name).sort(), ["guide", "poster"]);
  });

  test("a subscription: checkout, paid in the sandbox, status, reconcile, then get, cancel, resume, change and the portal", async () => {
    const tollgate = server(saas);
    const { id } = await tollgate.customers.create({ email: email() });

    const started = await tollgate.checkout.subscription({ userId: id, tier: "pro", successUrl: OK, cancelUrl: NO });
    assert.match(started.sessionId, /^cs_/);
    assert.match(started.url, /^http/);
    assert.equal((await tollgate.checkout.status(started.sessionId)).status, "open");

    const paid = await control(`/checkout/sessions/${started.sessionId}/complete`);
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    const status = await tollgate.checkout.status(started.sessionId);
    assert.equal(status.status, "complete");
    assert.equal(status.paid, true);
    const reconciled = await tollgate.checkout.reconcile(started.sessionId);
    assert.equal(reconciled.status, "complete");
    assert.equal(reconciled.applied, false, "the webhook applied it first");
    assert.equal(reconciled.plan, "pro");
    assert.equal((await tollgate.usage.check({ userId: id })).limit, 100);
    assert.equal((await tollgate.checkout.follow(started.sessionId)).status, "complete", "a finished session follows at once");

    const held = await tollgate.subscription.get({ userId: id });
    assert.equal(held.tier, "pro");
    assert.equal((await tollgate.subscription.cancel({ userId: id })).cancelAtPeriodEnd, true);
    assert.equal((await tollgate.subscription.resume({ userId: id })).cancelAtPeriodEnd, false);
    const changed = await tollgate.subscription.change({ userId: id, tier: "team" });
    assert.equal(changed.change?.tier, "team");
    assert.ok(["applied", "pending_payment"].includes(changed.change?.status));

    const portal = await tollgate.portal({ userId: id, returnUrl: NO });
    assert.match(portal.url, /^http/);

    const nobody = await tollgate.customers.create({ email: email() });
    await assert.rejects(tollgate.subscription.get({ userId: nobody.id }), (e) => e instanceof NotFoundError && e.code === "no_subscription");
  });

  test("a cart: checkout, paid, entitlements, a download that serves the file, revoke, then the download is refused", async () => {
    const tollgate = server(shop);
    const { id } = await tollgate.customers.create({ email: email() });

    const cart = await tollgate.checkout.cart({ userId: id, items: [{ productId: guide.id }], successUrl: OK, cancelUrl: NO });
    assert.match(cart.orderId, /^ord_/);
    const paid = await control(`/checkout/sessions/${cart.sessionId}/complete`);
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    const reconciled = await tollgate.checkout.reconcile(cart.sessionId);
    assert.equal(reconciled.order?.status, "paid");
    assert.deepEqual(reconciled.order?.entitlements, [guide.id]);

    const page = await tollgate.entitlements.list({ userId: id });
    assert.equal(page.total, 1);
    const all = [];
    for await (const e of tollgate.entitlements.iterate({ userId: id })) all.push(e);
    assert.deepEqual(all.map((e) => e.productId), [guide.id]);

    const link = await tollgate.download({ userId: id, productId: guide.id });
    assert.equal(link.filename, "guide.pdf");
    const file = await fetch(link.url);
    assert.equal(file.status, 200);
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), FILE);

    const revoked = await tollgate.entitlements.revoke(all[0].id);
    assert.equal(revoked.id, all[0].id);
    await assert.rejects(tollgate.download({ userId: id, productId: guide.id }), (e) => e instanceof EntitlementRequiredError && e.status === 403);
    await assert.rejects(tollgate.entitlements.revoke(all[0].id), (e) => e.code === "already_revoked");
  });

  test("a cart for more than the stock is a SoldOutError naming the product", async () => {
    const tollgate = server(shop);
    const error = await tollgate.checkout.cart({ items: [{ productId: scarce.id, quantity: 2 }], successUrl: OK, cancelUrl: NO }).catch((e) => e);
    assert.ok(error instanceof SoldOutError, error);
    assert.deepEqual(error.fieldErrors.items, [`${scarce.name} is sold out`]);
  });

  test("the dashboard answers ours in data and dream-api's fields beside it", async () => {
    const board = await server(saas).dashboard();
    assert.ok(board.data.customers.total >= 5);
    assert.equal(board.filters.projectId, saas.project.id);
    assert.ok(board.metrics.activeSubs >= 1);
  });
});

describe("the browser client", () => {
  test("meters and reads its own usage with a token its provider mints, asking again when it nears expiry", async () => {
    const { id } = await server(saas).customers.create({ email: email() });
    // 30 s tokens are inside the one-minute refresh margin at once, so every call asks again.
    const short = browserFor(saas, id, { expiresIn: 30 });
    await short.client.usage.track();
    await short.client.usage.track();
    assert.equal(short.minted(), 2);

    const { client, minted } = browserFor(saas, id);
    const usage = await client.usage.check();
    assert.equal(usage.count, 2);
    assert.equal(usage.userId, id);
    await client.usage.track();
    assert.equal(minted(), 1, "a one-hour token is reused");
    await assert.rejects(client.usage.track({ cost: 5 }), UsageLimitError);
  });

  test("reads tiers and products with the publishable key alone", async () => {
    const guest = new TollgateBrowser({ publishableKey: saas.project.publishableKey, baseUrl: stack.urls.gateway, fetch: checkedFetch });
    assert.equal((await guest.catalog.tiers()).length, 3);
    const shopper = new TollgateBrowser({ publishableKey: shop.project.publishableKey, baseUrl: stack.urls.gateway, fetch: checkedFetch });
    assert.equal((await shopper.catalog.products()).length, 2);
  });

  test("starts its own checkout and follows it to paid over the live event stream; the plan rises", async () => {
    const { id } = await server(saas).customers.create({ email: email() });
    const { client } = browserFor(saas, id);

    const started = await client.checkout.subscription({ tier: "pro", successUrl: OK, cancelUrl: NO });
    const seen = [];
    let connected;
    const opened = new Promise((resolve) => (connected = resolve));
    const following = client.checkout.follow(started.sessionId, { onStatus: (s) => (seen.push(s), s === "open" && connected()) });
    await opened;
    const paid = await control(`/checkout/sessions/${started.sessionId}/complete`);
    assert.equal(paid.status, 200);

    const final = await following;
    assert.equal(final.status, "complete");
    assert.equal(final.paid, true);
    assert.deepEqual(seen.slice(0, 2), ["open", "complete"]);
    assert.equal((await client.usage.check()).plan, "pro");
    assert.equal((await client.checkout.reconcile(started.sessionId)).plan, "pro");
    assert.equal((await client.subscription.get()).tier, "pro");
    assert.match((await client.portal({ returnUrl: NO })).url, /^http/);
    assert.equal((await client.subscription.cancel()).cancelAtPeriodEnd, true);
    assert.equal((await client.subscription.resume()).cancelAtPeriodEnd, false);
    const change = await client.subscription.change({ tier: "team" });
    assert.equal(change.change?.tier, "team");
  });

  test("a guest's cart is followed with its session secret; a buyer's cart gives them the download", async () => {
    const guest = new TollgateBrowser({ publishableKey: shop.project.publishableKey, baseUrl: stack.urls.gateway, fetch: checkedFetch });
    const cart = await guest.checkout.cart({ items: [{ productId: guide.id }], successUrl: OK, cancelUrl: NO, email: email() });
    assert.match(cart.sessionSecret, /^css_/);
    const open = await guest.checkout.status(cart.sessionId, { checkoutSecret: cart.sessionSecret });
    assert.equal(open.status, "open");
    assert.ok(Array.isArray(open.items), "the owner sees the full status");
    await control(`/checkout/sessions/${cart.sessionId}/complete`);
    assert.equal((await guest.checkout.follow(cart.sessionId, { checkoutSecret: cart.sessionSecret })).paid, true);
    assert.equal((await guest.checkout.reconcile(cart.sessionId, { checkoutSecret: cart.sessionSecret })).order?.status, "paid");

    const { id } = await server(shop).customers.create({ email: email() });
    const { client } = browserFor(shop, id);
    const mine = await client.checkout.cart({ items: [{ productId: guide.id }], successUrl: OK, cancelUrl: NO });
    await control(`/checkout/sessions/${mine.sessionId}/complete`);
    assert.equal((await client.checkout.status(mine.sessionId)).paid, true);
    assert.equal((await client.entitlements.list()).total, 1);
    let n = 0;
    for await (const _ of client.entitlements.iterate()) n++;
    assert.equal(n, 1);
    const link = await client.download({ productId: guide.id });
    assert.equal((await fetch(link.url)).status, 200);
  });
});

describe("verifying real deliveries", () => {
  test("the stack's signed customer.created verifies and reads as a typed event; a tampered copy does not", async () => {
    const { id } = await server(saas).customers.create({ email: email(), externalId: "sdk-hooked" });
    const delivery = await eventually(() => receiver.at("/sdk").find((d) => JSON.parse(d.body).data?.id === id));

    const event = await new Webhook(hook.secret).verify(delivery.body, delivery.headers);
    assert.equal(event.type, "customer.created");
    assert.equal(event.data.externalId, "sdk-hooked");
    assert.equal(event.projectId, saas.project.id);
    assert.equal(event.id, delivery.headers["webhook-id"]);
    await assert.rejects(new Webhook(hook.secret).verify(delivery.body.replace("sdk-hooked", "sdk-forged"), delivery.headers), WebhookVerificationError);
  });

  test("after a rotation with a grace period, a delivery carries two signatures and verifies under either secret", async () => {
    const rotated = await stack.call("webhooks", "POST", `/v1/projects/${saas.project.id}/webhook-endpoints/${hook.id}/rotate-secret`, {
      headers: { Authorization: `Bearer ${dev.token}` },
      body: { gracePeriodSeconds: 3600 },
    });
    assert.equal(rotated.status, 200, rotated.text);
    const fresh = rotated.body.data.secret;
    const { id } = await server(saas).customers.create({ email: email() });
    const delivery = await eventually(() => receiver.at("/sdk").find((d) => JSON.parse(d.body).data?.id === id));

    assert.equal(delivery.headers["webhook-signature"].split(" ").length, 2);
    assert.equal((await new Webhook(fresh).verify(delivery.body, delivery.headers)).data.id, id);
    assert.equal((await new Webhook(hook.secret).verify(delivery.body, delivery.headers)).data.id, id);
    assert.equal((await new Webhook([fresh, hook.secret]).verify(delivery.body, delivery.headers)).type, "customer.created");
  });
});
