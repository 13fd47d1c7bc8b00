// No access before money, at checkout: one script holding only the publishable key can no
// longer hold a store's stock (per-buyer holds, a cap on open guest carts, a per-address pace
// checked before any Stripe call), guests no longer share one Idempotency-Key space, and a
// leaked session id tells only whether the session is paid — its detail, its reconcile and
// its event stream need the session's owner.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks?session={CHECKOUT_SESSION_ID}";
const NO = "http://127.0.0.1:5173/cart";

let stack;
let dev;
let account;

before(async () => {
  stack = await testStack();
  dev = await signIn(stack, "dev_holds");
  ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
});
after(() => stack?.stop());

/** A store project with `limits` and products `{ name: inventory }`. */
async function shop(name, limits, products) {
  const made = await createProject(dev, { name, type: "store" });
  const set = await dev.call("PATCH", `/v1/projects/${made.project.id}`, { body: { checkoutLimits: limits, updatedAt: made.project.updatedAt } });
  assert.equal(set.status, 200, set.text);
  const items = {};
  for (const [slug, inventory] of Object.entries(products)) {
    const res = await stack.call("catalog", "POST", `/v1/projects/${made.project.id}/products`, {
      headers: { Authorization: `Bearer ${dev.token}` },
      body: { name: slug, displayName: slug, price: 1200, inventory },
    });
    assert.equal(res.status, 201, res.text);
    items[slug] = res.body.data;
  }
  return { ...made, limits: set.body.data.checkoutLimits, items };
}

const server = (project) => (method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { Authorization: `Bearer ${project.secretKey}`, ...headers }, ...rest });
/** A browser at client address `ip`, with the publishable key only. */
const guest = (project, ip) => (method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { "X-Publishable-Key": project.project.publishableKey, "CF-Connecting-IP": ip, ...headers }, ...rest });
const cart = (items, extra = {}) => ({ body: { items, successUrl: OK, cancelUrl: NO, ...extra } });
const line = (product, quantity = 1) => ({ productId: product.id, quantity });
const d1 = () => stack.d1();
const stock = async (product) => (await (await d1()).prepare("SELECT inventory FROM products WHERE id = ?1").bind(product.id).first()).inventory;
const held = async (product) =>
  (await (await d1()).prepare("SELECT COALESCE(SUM(quantity), 0) AS n FROM inventory_reservations WHERE product_id = ?1 AND status = 'held'").bind(product.id).first()).n;
/** The sandbox's checkout sessions for `project` (the Stripe calls that opened one). */
const sessionsAtStripe = async (project) => {
  const list = await stripeApi(stack, "GET", "/v1/checkout/sessions?limit=100", { account });
  assert.equal(list.status, 200);
  return list.body.data.filter((s) => s.metadata.tollgate_project_id === project.project.id).length;
};
async function endUser(project, email) {
  const made = await server(project)("POST", "/api/customers", { body: { email } });
  assert.equal(made.status, 201, made.text);
  const minted = await server(project)("POST", "/api/customer-token", { body: { userId: made.body.data.id } });
  assert.equal(minted.status, 200, minted.text);
  return { id: made.body.data.id, token: { "X-End-User-Token": minted.body.data.token } };
}

describe("checkout limits on the project", () => {
  test("limits are set with the project PATCH, shown on the project, audited, and refused out of bounds", async () => {
    const made = await createProject(dev, { name: "Limits", type: "store" });
    assert.deepEqual(made.project.checkoutLimits, { unitsPerProduct: 10, unitsPerBuyer: 50, guestCarts: 200, guestCartsPerMinute: 10, streamsPerSession: 3, streamIdleSeconds: 300 });

    const set = await dev.call("PATCH", `/v1/projects/${made.project.id}`, { body: { checkoutLimits: { unitsPerProduct: 4 }, updatedAt: made.project.updatedAt } });
    const bad = await dev.call("PATCH", `/v1/projects/${made.project.id}`, { body: { checkoutLimits: { unitsPerProduct: 0, streamIdleSeconds: 3601 }, updatedAt: set.body.data?.updatedAt } });
    const shown = await dev.call("GET", `/v1/projects/${made.project.id}`);

    assert.equal(set.status, 200, set.text);
    assert.equal(set.body.data.name, "Limits", "the name is kept");
    assert.equal(shown.body.data.checkoutLimits.unitsPerProduct, 4);
    assert.equal(shown.body.data.checkoutLimits.unitsPerBuyer, 50);
    assert.equal(bad.status, 422, bad.text);
    assert.deepEqual(Object.keys(bad.body.fieldErrors).sort(), ["checkoutLimits.streamIdleSeconds", "checkoutLimits.unitsPerProduct"]);
    const audit = await (await d1()).prepare("SELECT action FROM audit_events WHERE target_id = ?1 AND action = 'project.checkout_limits_changed'").bind(made.project.id).all();
    assert.equal(audit.results.length, 1);
  });
});

describe("stock hoarding", () => {
  test("a hoarding loop is stopped at one buyer's limit while a normal buyer still gets stock", async () => {
    const store = await shop("Hoard target", { unitsPerProduct: 3, unitsPerBuyer: 5, guestCartsPerMinute: 100 }, { lamp: 20 });
    const { lamp } = store.items;
    const hoarder = guest(store, "203.0.113.10");

    // One address, a new email every time; then one email from new addresses.
    const byAddress = [];
    for (let i = 0; i < 8; i++) byAddress.push(await hoarder("POST", "/api/cart/checkout", cart([line(lamp)], { email: `h${i}@example.test` })));
    const byEmail = [];
    for (let i = 0; i < 8; i++) byEmail.push(await guest(store, `198.18.0.${i + 1}`)("POST", "/api/cart/checkout", cart([line(lamp)], { email: "hoarder@example.test" })));
    const buyer = await guest(store, "192.0.2.50")("POST", "/api/cart/checkout", cart([line(lamp, 2)], { email: "buyer@example.test" }));

    for (const answers of [byAddress, byEmail]) {
      assert.equal(answers.filter((a) => a.status === 200).length, 3);
      for (const refused of answers.filter((a) => a.status !== 200)) {
        assert.equal(refused.status, 409);
        assert.equal(refused.body.code, "hold_limit_reached");
      }
    }
    assert.equal(buyer.status, 200, buyer.text);
    assert.equal(await held(lamp), 8);
    assert.equal(await stock(lamp), 12, "refused carts took nothing");
    assert.equal(await sessionsAtStripe(store), 7, "refused carts never reached Stripe");
  });

  test("a signed-in end user is held per product and in all; the developer's server is not", async () => {
    const store = await shop("Hoard end users", { unitsPerProduct: 3, unitsPerBuyer: 5 }, { cup: 50, mug: 50 });
    const { cup, mug } = store.items;
    const user = await endUser(store, "held@example.test");
    const browser = guest(store, "192.0.2.60");

    const tooMany = await browser("POST", "/api/cart/checkout", { headers: user.token, ...cart([line(cup, 4)]) });
    const first = await browser("POST", "/api/cart/checkout", { headers: user.token, ...cart([line(cup, 3), line(mug, 2)]) });
    const overall = await server(store)("POST", "/api/cart/checkout", { headers: { "X-User-Id": user.id }, ...cart([line(mug)]) });
    const vouched = await server(store)("POST", "/api/cart/checkout", cart([line(mug, 20)]));

    assert.deepEqual([tooMany.status, tooMany.body.code], [409, "hold_limit_reached"]);
    assert.equal(first.status, 200, first.text);
    assert.deepEqual([overall.status, overall.body.code], [409, "hold_limit_reached"], "5 held, a sixth unit is over");
    assert.equal(vouched.status, 200, "a server cart with no end user is the developer's call");
    assert.deepEqual([await held(cup), await held(mug)], [3, 22]);
  });

  test("a project keeps at most guestCarts open guest carts; a signed-in buyer still buys", async () => {
    const store = await shop("Small stall", { guestCarts: 2 }, { pin: 50 });
    const { pin } = store.items;

    const a = await guest(store, "192.0.2.71")("POST", "/api/cart/checkout", cart([line(pin)]));
    const b = await guest(store, "192.0.2.72")("POST", "/api/cart/checkout", cart([line(pin)]));
    const c = await guest(store, "192.0.2.73")("POST", "/api/cart/checkout", cart([line(pin)]));
    const user = await endUser(store, "member@example.test");
    const member = await guest(store, "192.0.2.73")("POST", "/api/cart/checkout", { headers: user.token, ...cart([line(pin)]) });

    assert.deepEqual([a.status, b.status], [200, 200]);
    assert.deepEqual([c.status, c.body.code], [429, "guest_carts_full"]);
    assert.ok(Number(c.headers.get("retry-after")) > 0);
    assert.equal(member.status, 200, member.text);
    assert.equal(await held(pin), 3);
    assert.equal(await sessionsAtStripe(store), 3);
  });

  test("one address opens at most guestCartsPerMinute guest carts, refused before any Stripe call", async () => {
    const store = await shop("Kiosk", { guestCartsPerMinute: 2 }, { card: 50 });
    const { card } = store.items;
    const noisy = guest(store, "203.0.113.99");

    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await noisy("POST", "/api/cart/checkout", cart([line(card)], { email: `k${i}@example.test` })));
    const other = await guest(store, "203.0.113.100")("POST", "/api/cart/checkout", cart([line(card)]));
    const nextMinute = await noisy("POST", "/api/cart/checkout", { headers: { "X-Tollgate-Dev-Now": String(Date.now() + 61_000) }, ...cart([line(card)]) });

    assert.deepEqual(answers.map((a) => a.status), [200, 200, 429, 429]);
    for (const limited of answers.slice(2)) {
      assert.equal(limited.body.code, "rate_limited");
      const retry = Number(limited.headers.get("retry-after"));
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    }
    assert.equal(other.status, 200, "another address is not slowed");
    assert.equal(nextMinute.status, 200, nextMinute.text);
    assert.equal(await sessionsAtStripe(store), 4, "the refused carts made no Stripe call");
    assert.equal(await held(card), 4);
  });
});

describe("guest idempotency", () => {
  test("two guests with the same Idempotency-Key and body get two sessions; a guest's retry gets its own", async () => {
    const store = await shop("Shared keys", {}, { badge: 50 });
    const body = cart([line(store.items.badge)]);
    const key = { "Idempotency-Key": "checkout-1" };
    const ada = guest(store, "192.0.2.81");
    const bob = guest(store, "192.0.2.82");

    const first = await ada("POST", "/api/cart/checkout", { headers: key, ...body });
    const other = await bob("POST", "/api/cart/checkout", { headers: key, ...body });
    const retry = await ada("POST", "/api/cart/checkout", { headers: key, ...body });
    const sameAddress = await ada("POST", "/api/cart/checkout", { headers: key, ...cart([line(store.items.badge)], { email: "carol@example.test" }) });

    assert.equal(first.status, 200, first.text);
    assert.equal(other.status, 200, other.text);
    assert.notEqual(other.body.sessionId, first.body.sessionId, "another guest never gets the first guest's session");
    assert.equal(retry.body.sessionId, first.body.sessionId, "the same guest's retry replays its answer");
    assert.equal(sameAddress.status, 200, "another email at the same address is another guest, not a key reuse");
    assert.notEqual(sameAddress.body.sessionId, first.body.sessionId);
    assert.equal(await held(store.items.badge), 3);
  });
});

describe("session ownership", () => {
  const fault = (form) => stripeApi(stack, "POST", "/_sandbox/faults", { form });
  const complete = (sessionId) => stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${sessionId}/complete`, { account });
  const orderStatus = async (orderId) => (await (await d1()).prepare("SELECT status FROM orders WHERE id = ?1").bind(orderId).first()).status;

  test("with only the publishable key a session id tells whether it is paid, nothing more", async () => {
    const store = await shop("Receipts", {}, { zine: 50 });
    const browser = guest(store, "192.0.2.91");
    const opened = await browser("POST", "/api/cart/checkout", cart([line(store.items.zine, 2)], { email: "reader@example.test" }));
    const otherSession = await guest(store, "192.0.2.92")("POST", "/api/cart/checkout", cart([line(store.items.zine)]));
    const path = `/api/checkout/${opened.body.sessionId}`;

    const bare = await browser("GET", path);
    const wrongSecret = await browser("GET", path, { headers: { "X-Checkout-Secret": otherSession.body.sessionSecret } });
    const owner = await browser("GET", path, { headers: { "X-Checkout-Secret": opened.body.sessionSecret } });
    const backend = await server(store)("GET", path);

    assert.match(opened.body.sessionSecret, /^css_[0-9a-f]{64}$/);
    assert.deepEqual(bare.body, { sessionId: opened.body.sessionId, status: "open", paid: false });
    assert.deepEqual(wrongSecret.body, bare.body, "another session's secret opens nothing");
    assert.deepEqual(owner.body.items, [{ productId: store.items.zine.id, name: "zine", quantity: 2, unitAmount: 1200 }]);
    assert.deepEqual(backend.body.items, owner.body.items);
  });

  test("reconcile and the event stream refuse a caller who knows only the session id, and nothing changes", async () => {
    const store = await shop("Guarded", {}, { print: 50 });
    const browser = guest(store, "192.0.2.95");
    const opened = await browser("POST", "/api/cart/checkout", cart([line(store.items.print)]));
    const { sessionId, orderId, sessionSecret } = opened.body;
    const alice = await endUser(store, "alice@example.test");
    const mallory = await endUser(store, "mallory@example.test");
    const hers = await browser("POST", "/api/cart/checkout", { headers: alice.token, ...cart([line(store.items.print)]) });
    // Paid at Stripe while its webhooks are held back: only a reconcile could apply it now.
    await fault({ path: "/_delivery/", status: "503", count: "40" });
    await complete(sessionId);
    await complete(hers.body.sessionId);
    await stripeApi(stack, "DELETE", "/_sandbox/faults");

    const refused = [
      await browser("POST", `/api/checkout/${sessionId}/reconcile`),
      await browser("POST", `/api/checkout/${sessionId}/reconcile`, { headers: { "X-Checkout-Secret": `css_${"0".repeat(64)}` } }),
      await browser("POST", `/api/checkout/${hers.body.sessionId}/reconcile`, { headers: mallory.token }),
      await browser("POST", `/api/checkout/${hers.body.sessionId}/reconcile`, { headers: { "X-Checkout-Secret": sessionSecret } }),
      await browser("GET", `/api/checkout/${sessionId}/events`),
      await browser("GET", `/api/checkout/${hers.body.sessionId}/events`, { headers: mallory.token }),
    ];
    const stillPending = [await orderStatus(orderId), await orderStatus(hers.body.orderId)];
    const byGuest = await browser("POST", `/api/checkout/${sessionId}/reconcile`, { headers: { "X-Checkout-Secret": sessionSecret } });
    const byAlice = await browser("POST", `/api/checkout/${hers.body.sessionId}/reconcile`, { headers: alice.token });

    for (const res of refused) assert.deepEqual([res.status, res.body.code], [403, "forbidden"], res.text);
    assert.equal(hers.body.sessionSecret, undefined, "a signed-in buyer proves itself with its token");
    assert.deepEqual(stillPending, ["pending", "pending"], "a refused reconcile applies nothing");
    assert.equal(byGuest.status, 200, byGuest.text);
    assert.equal(byGuest.body.data.applied, true);
    assert.equal(byAlice.status, 200, byAlice.text);
    assert.equal(byAlice.body.data.applied, true);
    assert.deepEqual([await orderStatus(orderId), await orderStatus(hers.body.orderId)], ["paid", "paid"]);
  });
});
