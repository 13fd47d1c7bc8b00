// Checkout on the api worker: subscription checkout priced on the server, cart checkout
// whose stock is reserved atomically (no oversell under concurrency) and released when the
// session lapses, the status lookup for success pages, the billing portal, and the redirect
// rule that keeps checkout from becoming an open redirect.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks?session={CHECKOUT_SESSION_ID}";
const NO = "http://127.0.0.1:5173/cart";

describe("checkout", () => {
  let stack;
  let account;
  let saas;
  let store;
  let pro;
  let ebook;
  let dev;
  before(async () => {
    // A short isolate key cache, so a change of the developer's billing shows in seconds.
    stack = await testStack({ vars: { KEY_CACHE_SECONDS: "2" } });
    dev = await signIn(stack, "dev_checkout");
    ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
    const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
    saas = await createProject(dev, { name: "App", type: "saas" });
    await catalog("POST", `/v1/projects/${saas.project.id}/tiers`, { name: "free", displayName: "Free", price: 0, limit: 5 });
    pro = (await catalog("POST", `/v1/projects/${saas.project.id}/tiers`, { name: "pro", displayName: "Pro", price: 900, limit: 1000 })).body.data;
    store = await createProject(dev, { name: "Shop", type: "store" });
    ebook = (await catalog("POST", `/v1/projects/${store.project.id}/products`, { name: "ebook", displayName: "E-book", price: 1500, inventory: 10 })).body.data;
  });
  after(() => stack?.stop());

  const server = (project) => (method, path, { headers = {}, ...rest } = {}) =>
    stack.call("api", method, path, { headers: { Authorization: `Bearer ${project.secretKey}`, ...headers }, ...rest });
  const browser = (project) => (method, path, { headers = {}, ...rest } = {}) =>
    stack.call("api", method, path, { headers: { "X-Publishable-Key": project.project.publishableKey, ...headers }, ...rest });
  async function endUser(email) {
    const res = await server(saas)("POST", "/api/customers", { body: { email } });
    assert.equal(res.status, 201, res.text);
    return res.body.data;
  }

  describe("subscription checkout", () => {
    test("opens a Stripe session at the tier's own price, with our references on it", async () => {
      const user = await endUser("buyer@example.test");

      const res = await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": user.id }, body: { tier: "pro", successUrl: OK, cancelUrl: NO } });

      assert.equal(res.status, 200, res.text);
      assert.match(res.body.sessionId, /^cs_test_/);
      assert.ok(res.body.url.startsWith(`${stack.urls["stripe-sandbox"]}/pay/`));
      const session = await stripeApi(stack, "GET", `/v1/checkout/sessions/${res.body.sessionId}?expand[]=line_items`, { account });
      assert.equal(session.body.mode, "subscription");
      assert.equal(session.body.amount_total, 900);
      assert.equal(session.body.metadata.tollgate_tier_id, pro.id);
      assert.equal(session.body.metadata.tollgate_end_user_id, user.id);
      assert.equal(session.body.client_reference_id, user.id);
      assert.match(session.body.customer, /^cus_/);
      const row = await (await stack.d1()).prepare("SELECT kind, tier_id, end_user_id, status FROM checkout_sessions WHERE id = ?").bind(res.body.sessionId).first();
      assert.deepEqual(row, { kind: "subscription", tier_id: pro.id, end_user_id: user.id, status: "open" });
    });

    test("a browser with an end-user token can start its own checkout", async () => {
      const user = await endUser("tokened@example.test");
      const minted = await server(saas)("POST", "/api/customer-token", { body: { userId: user.id } });

      const res = await browser(saas)("POST", "/api/create-checkout", {
        headers: { "X-End-User-Token": minted.body.data.token },
        body: { tier: "pro", successUrl: OK, cancelUrl: NO },
      });

      assert.equal(res.status, 200, res.text);
    });

    test("a retry with the same Idempotency-Key answers the same session", async () => {
      const user = await endUser("retry@example.test");
      const call = () =>
        server(saas)("POST", "/api/create-checkout", {
          headers: { "X-User-Id": user.id, "Idempotency-Key": `sub-${user.id}` },
          body: { tier: "pro", successUrl: OK, cancelUrl: NO },
        });

      const first = await call();
      const second = await call();

      assert.equal(second.status, 200);
      assert.equal(second.body.sessionId, first.body.sessionId);
      assert.equal(second.headers.get("idempotent-replayed"), "true");
    });

    test("two end users who send the same Idempotency-Key and body each get their own session", async () => {
      const [ada, bob] = [await endUser("ada-key@example.test"), await endUser("bob-key@example.test")];
      const call = (user) =>
        server(saas)("POST", "/api/create-checkout", {
          headers: { "X-User-Id": user.id, "Idempotency-Key": "checkout-pro" },
          body: { tier: "pro", successUrl: OK, cancelUrl: NO },
        });

      const first = await call(ada);
      const second = await call(bob);

      assert.equal(second.status, 200, second.text);
      assert.notEqual(second.body.sessionId, first.body.sessionId);
      assert.equal(second.headers.get("idempotent-replayed"), null);
      const row = await (await stack.d1()).prepare("SELECT end_user_id FROM checkout_sessions WHERE id = ?1").bind(second.body.sessionId).first();
      assert.equal(row.end_user_id, bob.id);
    });

    test("bad requests are refused and open nothing", async () => {
      const user = await endUser("refused@example.test");
      const cases = [
        [{ tier: "pro", priceId: "price_cheap", successUrl: OK, cancelUrl: NO }, 400, "price_mismatch"],
        [{ tier: "free", successUrl: OK, cancelUrl: NO }, 422, "validation_failed"],
        [{ tier: "platinum", successUrl: OK, cancelUrl: NO }, 422, "validation_failed"],
        [{ tier: "pro", successUrl: "https://evil.test/phish", cancelUrl: NO }, 422, "validation_failed"],
        [{ tier: "pro", successUrl: OK, cancelUrl: "javascript:alert(1)" }, 422, "validation_failed"],
        [{ tier: "pro", successUrl: OK }, 422, "validation_failed"],
        [{ tier: "pro", successUrl: OK, cancelUrl: NO, amount: 1 }, 400, "invalid_json"],
      ];
      for (const [body, status, code] of cases) {
        const res = await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": user.id }, body });

        assert.equal(res.status, status, JSON.stringify(body));
        assert.equal(res.body.code, code, JSON.stringify(body));
      }
      const { n } = await (await stack.d1()).prepare("SELECT COUNT(*) AS n FROM checkout_sessions WHERE end_user_id = ?").bind(user.id).first();
      assert.equal(n, 0);
      const unknown = await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": "nobody" }, body: { tier: "pro", successUrl: OK, cancelUrl: NO } });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, "unknown_end_user");
    });

    test("a user already subscribed to the tier cannot buy it again", async () => {
      const user = await endUser("subscribed@example.test");
      const now = Date.now();
      await (await stack.d1())
        .prepare(
          "INSERT INTO subscriptions (id, project_id, end_user_id, tier_id, plan, stripe_subscription_id, stripe_customer_id, status, amount, currency, interval, current_period_start, current_period_end, stripe_event_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pro', ?, 'cus_x', 'active', 900, 'usd', 'month', ?, ?, ?, ?, ?)",
        )
        .bind(`subr_${now}`, saas.project.id, user.id, pro.id, `sub_${now}`, now, now + 30 * 86400000, now, now, now)
        .run();

      const res = await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": user.id }, body: { tier: "pro", successUrl: OK, cancelUrl: NO } });

      assert.equal(res.status, 409);
      assert.equal(res.body.code, "already_subscribed");
    });

    test("return URLs follow the project's redirect origins; live-style https origins must be configured", async () => {
      const user = await endUser("origins@example.test");
      const shop = "https://shop.example/thanks";
      const before = await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": user.id }, body: { tier: "pro", successUrl: shop, cancelUrl: shop } });
      const bad = await dev.call("PUT", `/v1/projects/${saas.project.id}/redirect-origins`, { body: { origins: ["https://shop.example/with/path"] } });
      const set = await dev.call("PUT", `/v1/projects/${saas.project.id}/redirect-origins`, { body: { origins: ["https://shop.example"] } });
      const afterwards = await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": user.id }, body: { tier: "pro", successUrl: shop, cancelUrl: shop } });

      assert.equal(before.status, 422);
      assert.equal(bad.status, 422);
      assert.deepEqual(set.body.data.origins, ["https://shop.example"]);
      assert.equal(afterwards.status, 200, afterwards.text);
    });
  });

  describe("status lookup", () => {
    test("a success page learns the payment from Stripe before any webhook", async () => {
      const user = await endUser("status@example.test");
      const started = await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": user.id }, body: { tier: "pro", successUrl: OK, cancelUrl: NO } });
      const id = started.body.sessionId;

      const open = await server(saas)("GET", `/api/checkout/${id}`);
      await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${id}/complete`, { account });
      const paid = await server(saas)("GET", `/api/checkout/${id}`);

      assert.deepEqual([open.body.status, open.body.paid, open.body.mode], ["open", false, "subscription"]);
      assert.deepEqual([paid.body.status, paid.body.paid, paid.body.customer], ["complete", true, user.id]);
    });

    test("another project's session answers 404", async () => {
      const user = await endUser("other@example.test");
      const started = await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": user.id }, body: { tier: "pro", successUrl: OK, cancelUrl: NO } });

      const res = await browser(store)("GET", `/api/checkout/${started.body.sessionId}`);

      assert.equal(res.status, 404);
    });
  });

  describe("cart checkout", () => {
    const cart = (items, extra = {}) => ({ items, successUrl: OK, cancelUrl: NO, ...extra });
    const stock = async () => (await (await stack.d1()).prepare("SELECT inventory FROM products WHERE id = ?").bind(ebook.id).first()).inventory;

    test("a guest's cart is priced on the server, merges lines and holds its stock", async () => {
      const res = await browser(store)("POST", "/api/cart/checkout", {
        body: cart([{ productId: ebook.id }, { priceId: ebook.stripePriceId, quantity: 1 }], { email: "guest@example.test" }),
      });

      assert.equal(res.status, 200, res.text);
      assert.match(res.body.orderId, /^ord_/);
      const session = await stripeApi(stack, "GET", `/v1/checkout/sessions/${res.body.sessionId}/line_items`, { account });
      assert.deepEqual(session.body.data.map((l) => [l.price.id, l.quantity]), [[ebook.stripePriceId, 2]]);
      assert.equal(await stock(), 8);
      const status = await browser(store)("GET", `/api/checkout/${res.body.sessionId}`, { headers: { "X-Checkout-Secret": res.body.sessionSecret } });
      assert.deepEqual(status.body.items, [{ productId: ebook.id, name: "ebook", quantity: 2, unitAmount: 1500 }]);
    });

    test("thirty parallel carts for the remaining units reserve exactly that many", async () => {
      const left = await stock();

      // The secret key's rate limit (100/s) admits all thirty; a browser's is 20/s per address.
      const answers = await Promise.all(Array.from({ length: 30 }, () => server(store)("POST", "/api/cart/checkout", { body: cart([{ productId: ebook.id }]) })));

      const won = answers.filter((a) => a.status === 200).length;
      const sold = answers.filter((a) => a.status === 409);
      assert.equal(won, left);
      assert.equal(sold.length, 30 - left);
      for (const a of sold) {
        assert.equal(a.body.code, "sold_out");
        assert.deepEqual(a.body.fieldErrors.items, ["ebook is sold out"]);
      }
      assert.equal(await stock(), 0);
      const { held } = await (await stack.d1()).prepare("SELECT SUM(quantity) AS held FROM inventory_reservations WHERE product_id = ? AND status = 'held'").bind(ebook.id).first();
      assert.equal(held, 10);
    });

    test("lapsed carts give their stock back to the next cart, once", async () => {
      const later = String(Date.now() + 48 * 60_000); // past the 31-minute session and the 15-minute grace

      const next = await browser(store)("POST", "/api/cart/checkout", { headers: { "X-Tollgate-Dev-Now": later }, body: cart([{ productId: "prd_unknown" }]) });
      const again = await browser(store)("POST", "/api/cart/checkout", { headers: { "X-Tollgate-Dev-Now": later }, body: cart([{ productId: "prd_unknown" }]) });

      assert.equal(next.status, 422, "the cart itself names an unknown product");
      assert.equal(again.status, 422);
      assert.equal(await stock(), 10);
      const { released } = await (await stack.d1()).prepare("SELECT SUM(quantity) AS released FROM inventory_reservations WHERE product_id = ? AND status = 'released'").bind(ebook.id).first();
      assert.equal(released, 10);
    });

    test("bad carts are refused and hold nothing", async () => {
      const before = await stock();
      const cases = [
        [cart([]), 422],
        [cart([{ productId: ebook.id, quantity: 100 }]), 422],
        [cart([{ productId: ebook.id, priceId: ebook.stripePriceId }]), 422],
        [cart([{ productId: "prd_missing" }]), 422],
        [cart([{ productId: ebook.id }], { successUrl: "https://evil.test" }), 422],
        [cart([{ productId: ebook.id, price: 1 }]), 400],
      ];
      for (const [body, status] of cases) {
        const res = await browser(store)("POST", "/api/cart/checkout", { body });
        assert.equal(res.status, status, JSON.stringify(body));
      }
      assert.equal(await stock(), before);
    });
  });

  describe("billing portal", () => {
    test("a user who never paid has no billing account; one with a Stripe customer gets a portal", async () => {
      const fresh = await endUser("never@example.test");
      const payer = await endUser("payer@example.test");
      await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": payer.id }, body: { tier: "pro", successUrl: OK, cancelUrl: NO } });

      const none = await server(saas)("POST", "/api/customer-portal", { headers: { "X-User-Id": fresh.id }, body: { returnUrl: NO } });
      const portal = await server(saas)("POST", "/api/customer-portal", { headers: { "X-User-Id": payer.id }, body: { returnUrl: NO } });
      const evil = await server(saas)("POST", "/api/customer-portal", { headers: { "X-User-Id": payer.id }, body: { returnUrl: "https://evil.test" } });

      assert.equal(none.status, 404);
      assert.equal(none.body.code, "no_billing_account");
      assert.equal(portal.status, 200, portal.text);
      assert.ok(portal.body.url.startsWith(`${stack.urls["stripe-sandbox"]}/portal/`));
      assert.equal(evil.status, 422);
    });
  });

  describe("the developer plan", () => {
    test("a developer subscribes through a session on Tollgate's own account, once the price exists", async () => {
      const developer = await signIn(stack, "dev_plan");
      const body = { successUrl: "http://127.0.0.1:5173/billing/done", cancelUrl: "http://127.0.0.1:5173/billing" };

      const first = await developer.call("POST", "/v1/billing/checkout", { body });
      const second = await developer.call("POST", "/v1/billing/checkout", { body });
      const outside = await developer.call("POST", "/v1/billing/checkout", { body: { ...body, successUrl: "https://evil.test/" } });

      assert.equal(first.status, 200, first.text);
      assert.equal(first.body.mode, "test");
      const session = await stripeApi(stack, "GET", `/v1/checkout/sessions/${first.body.sessionId}`);
      assert.equal(session.status, 200, "the session lives on the platform's own account");
      assert.equal(session.body.mode, "subscription");
      assert.equal(session.body.amount_total, 2900);
      assert.match(session.body.metadata.tollgate_platform_id, /^plt_/);
      const again = await stripeApi(stack, "GET", `/v1/checkout/sessions/${second.body.sessionId}`);
      assert.equal(again.body.customer, session.body.customer, "one customer per developer");
      const prices = await stripeApi(stack, "GET", "/v1/prices?limit=100");
      assert.equal(prices.body.data.filter((p) => p.metadata.tollgate_plan === "developer").length, 1, "the plan's price is made once");
      assert.equal(outside.status, 422);
    });

    test("the plan's billing portal opens on Tollgate's own account once a checkout made the developer a customer", async () => {
      const developer = await signIn(stack, "dev_plan_portal");
      const returnUrl = "http://127.0.0.1:5173/console/account";

      const before = await developer.call("POST", "/v1/billing/portal", { body: { returnUrl } });
      await developer.call("POST", "/v1/billing/checkout", { body: { successUrl: returnUrl, cancelUrl: returnUrl } });
      const portal = await developer.call("POST", "/v1/billing/portal", { body: { returnUrl } });
      const outside = await developer.call("POST", "/v1/billing/portal", { body: { returnUrl: "https://evil.test/" } });
      const unknown = await developer.call("POST", "/v1/billing/portal", { body: { returnUrl, customer: "cus_someone" } });

      assert.deepEqual([before.status, before.body.code], [404, "no_billing_account"]);
      assert.match(before.body.error, /POST \/v1\/billing\/checkout/);
      assert.equal(portal.status, 200, portal.text);
      const page = await fetch(portal.body.url);
      assert.equal(page.status, 200, "the portal session lives on the platform's own account");
      assert.equal(outside.status, 422);
      assert.ok(outside.body.fieldErrors.returnUrl);
      assert.equal(unknown.status, 400, "an unknown field is refused, not ignored");
      assert.equal((await stack.call("platform", "POST", "/v1/billing/portal", { body: { returnUrl } })).status, 401);
    });

    test("paying for the plan turns the developer's billing on, which live keys need", async () => {
      const developer = await signIn(stack, "dev_plan_paid");
      const live = await createProject(developer, { name: "Live app", type: "saas", mode: "live" });
      const before = await stack.call("api", "GET", "/api/project", { headers: { Authorization: `Bearer ${live.secretKey}` } });
      const started = await developer.call("POST", "/v1/billing/checkout", { body: { successUrl: "http://127.0.0.1:5173/ok", cancelUrl: "http://127.0.0.1:5173/no" } });

      await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${started.body.sessionId}/complete`);
      let status;
      for (let i = 0; i < 40 && status !== "active"; i++) {
        status = (await developer.call("GET", "/v1/platform")).body.data.billingStatus;
        if (status !== "active") await new Promise((r) => setTimeout(r, 100));
      }
      const again = await developer.call("POST", "/v1/billing/checkout", { body: { successUrl: "http://127.0.0.1:5173/ok", cancelUrl: "http://127.0.0.1:5173/no" } });

      assert.equal(before.status, 403);
      assert.equal(before.body.code, "live_mode_inactive");
      assert.equal(status, "active");
      assert.equal(again.status, 409);
      assert.equal(again.body.code, "already_subscribed");
      let after;
      for (let i = 0; i < 40 && after?.status !== 200; i++) {
        after = await stack.call("api", "GET", "/api/project", { headers: { Authorization: `Bearer ${live.secretKey}` } });
        if (after.status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(after.status, 200, "the live key works within the isolate cache bound");
    });
  });
});
