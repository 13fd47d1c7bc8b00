// The Stripe sandbox against the official `stripe` SDK: every endpoint it serves is driven
// through the client, responses must parse and carry the right values, errors must surface
// as the SDK's typed errors, webhooks are verified with `stripe.webhooks.constructEvent`, and
// where stripe-stateful-mock covers the same calls, both answer with the same shapes. The
// Node SDK also signs headers that the Rust verification (webhooks worker) must judge as
// Stripe does.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import log from "loglevel";
import Stripe from "stripe";
import { createExpressApp } from "stripe-stateful-mock";
import { price, sandboxStack } from "./support/sandbox.mjs";

let sandbox;
let stripe;
let counter = 0;
const unique = (prefix) => `${prefix}${++counter}-${Date.now()}`;

before(async () => {
  sandbox = await sandboxStack();
  stripe = sandbox.client();
});
after(() => sandbox?.stop());

/** Verifies a delivery as a receiver would, with the official library. */
const verify = (delivery, secret) => stripe.webhooks.constructEvent(delivery.body, delivery.headers["stripe-signature"], secret);

/** The configured endpoint's test-mode deliveries, verified with the test endpoint's secret. */
const configuredTestEvents = () =>
  sandbox.receiver
    .at("/configured")
    .filter((d) => JSON.parse(d.body).livemode === false)
    .map((d) => verify(d, sandbox.secrets.STRIPE_WEBHOOK_SECRET));

/** The configured endpoint's deliveries about object `id`, verified, oldest first. */
function configuredEventsAbout(id) {
  return configuredTestEvents()
    .filter((e) => e.data.object.id === id || e.data.object.subscription === id);
}

describe("customers", () => {
  test("a customer is created, read, updated and listed with Stripe's shape", async () => {
    const email = `${unique("ann")}@example.test`;

    const created = await stripe.customers.create({ email, name: "Ann", metadata: { user: "u1" } });
    const read = await stripe.customers.retrieve(created.id);
    const updated = await stripe.customers.update(created.id, { name: "Ann Lee", metadata: { user: "", plan: "pro" } });
    const listed = await stripe.customers.list({ email });

    assert.match(created.id, /^cus_/);
    assert.equal(created.object, "customer");
    assert.equal(created.email, email);
    assert.equal(created.livemode, false);
    assert.equal(typeof created.created, "number");
    assert.ok(created.created < 10_000_000_000, "created is in Unix seconds");
    assert.deepEqual(read, created);
    assert.equal(updated.name, "Ann Lee");
    assert.deepEqual(updated.metadata, { plan: "pro" });
    assert.deepEqual(listed.data.map((c) => c.id), [created.id]);
    assert.equal(listed.object, "list");
    assert.equal(listed.has_more, false);
    assert.match(read.lastResponse.requestId, /^req_/);
  });

  test("lists page newest first with limit and starting_after", async () => {
    const name = unique("pager");
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await stripe.customers.create({ name })).id);

    const first = await stripe.customers.list({ limit: 2 });
    const next = await stripe.customers.list({ limit: 2, starting_after: first.data[1].id });

    assert.deepEqual(first.data.map((c) => c.id), [ids[2], ids[1]]);
    assert.equal(first.has_more, true);
    assert.equal(next.data[0].id, ids[0]);
    const all = [];
    for await (const customer of stripe.customers.list({ limit: 2 })) all.push(customer.id);
    assert.ok(ids.every((id) => all.includes(id)), "auto-pagination walks every page");
  });

  test("a customer.created event is delivered for a new customer", async () => {
    const customer = await stripe.customers.create({ email: `${unique("ev")}@example.test` });

    const events = configuredEventsAbout(customer.id);

    assert.deepEqual(events.map((e) => e.type), ["customer.created"]);
    assert.equal(events[0].data.object.email, customer.email);
  });
});

describe("products and prices", () => {
  test("a product is archived by an update and filtered by active", async () => {
    const product = await stripe.products.create({ name: unique("Archive"), description: "Old", images: ["https://img.test/a.png"] });

    const archived = await stripe.products.update(product.id, { active: false });
    const active = await stripe.products.list({ active: true, limit: 100 });
    const inactive = await stripe.products.list({ active: false, limit: 100 });

    assert.equal(product.active, true);
    assert.deepEqual(product.images, ["https://img.test/a.png"]);
    assert.equal(archived.active, false);
    assert.ok(!active.data.some((p) => p.id === product.id));
    assert.ok(inactive.data.some((p) => p.id === product.id));
  });

  test("recurring and one-time prices carry their type and interval", async () => {
    const { product, price: monthly } = await price(stripe, { recurring: { interval: "month" } });
    const yearly = await stripe.prices.create({ product: product.id, unit_amount: 19000, currency: "usd", recurring: { interval: "year" }, nickname: "Yearly" });
    const once = await stripe.prices.create({ product: product.id, unit_amount: 500, currency: "EUR" });

    const byProduct = await stripe.prices.list({ product: product.id });

    assert.equal(monthly.type, "recurring");
    assert.deepEqual([monthly.recurring.interval, monthly.recurring.interval_count], ["month", 1]);
    assert.equal(yearly.recurring.interval, "year");
    assert.equal(yearly.nickname, "Yearly");
    assert.equal(once.type, "one_time");
    assert.equal(once.recurring, null);
    assert.equal(once.currency, "eur");
    assert.deepEqual(byProduct.data.map((p) => p.id), [once.id, yearly.id, monthly.id]);
  });

  test("a price may change active, metadata and nickname but never its amount", async () => {
    const { price: p } = await price(stripe);

    const updated = await stripe.prices.update(p.id, { active: false, nickname: "Legacy", metadata: { k: "v" } });
    const activeOnly = await stripe.prices.list({ product: p.product, active: true });

    assert.equal(updated.active, false);
    assert.equal(updated.nickname, "Legacy");
    assert.deepEqual(updated.metadata, { k: "v" });
    assert.equal(activeOnly.data.length, 0);
    await assert.rejects(stripe.prices.update(p.id, { unit_amount: 2900 }), (err) => {
      assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError);
      assert.equal(err.code, "parameter_unknown");
      assert.equal(err.message, "Received unknown parameter: unit_amount");
      return true;
    });
  });
});

describe("Stripe-shaped errors", () => {
  test("unknown, missing and invalid parameters are invalid request errors naming the parameter", async () => {
    const cases = [
      [() => stripe.customers.create({ colour: "red" }), "parameter_unknown", "colour"],
      [() => stripe.prices.create({ unit_amount: 100, currency: "usd" }), "parameter_missing", "product"],
      [() => stripe.prices.create({ product: "prod_x", unit_amount: 100, currency: "usd", recurring: { interval: "week" } }), undefined, "recurring[interval]"],
      [() => stripe.customers.create({ email: "not-an-email" }), "email_invalid", "email"],
      [() => stripe.customers.list({ limit: 1000 }), "parameter_invalid_integer", "limit"],
    ];
    for (const [call, code, param] of cases) {
      await assert.rejects(call(), (err) => {
        assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, err.constructor.name);
        assert.equal(err.statusCode, 400);
        assert.equal(err.code, code);
        assert.equal(err.param, param);
        return true;
      });
    }
  });

  test("an unknown id is a 404 resource_missing", async () => {
    await assert.rejects(stripe.customers.retrieve("cus_missing"), (err) => {
      assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError);
      assert.equal(err.statusCode, 404);
      assert.equal(err.code, "resource_missing");
      assert.equal(err.message, "No such customer: 'cus_missing'");
      return true;
    });
    await assert.rejects(stripe.prices.create({ product: "prod_missing", unit_amount: 1, currency: "usd" }), { code: "resource_missing", param: "product" });
  });

  test("a key that is not a secret key is an authentication error that masks the key", async () => {
    for (const key of ["sk_test_short", "pk_test_0123456789abcdefghij", "sk_prod_0123456789abcdefghij"]) {
      await assert.rejects(sandbox.client(key).customers.list(), (err) => {
        assert.ok(err instanceof Stripe.errors.StripeAuthenticationError, key);
        assert.equal(err.statusCode, 401);
        assert.ok(!err.message.includes(key), "the key is masked");
        return true;
      });
    }
    const none = await sandbox.raw("GET", "/v1/customers", { key: null });
    assert.equal(none.status, 401);
    assert.equal(none.body.error.type, "invalid_request_error");
    assert.match(none.body.error.message, /You did not provide an API key/);
  });

  test("a path the sandbox does not serve answers Stripe's unrecognized URL", async () => {
    const res = await sandbox.raw("GET", "/v1/balance_transactions");

    assert.equal(res.status, 404);
    assert.equal(res.body.error.type, "invalid_request_error");
    assert.match(res.body.error.message, /^Unrecognized request URL \(GET: \/v1\/balance_transactions\)/);
  });

  test("the configured endpoint gets live events signed with the live endpoint's secret, never the test one's", async () => {
    const live = sandbox.client(sandbox.secrets.STRIPE_SECRET_KEY_LIVE);

    const customer = await live.customers.create({ name: "Live signed" });

    const delivery = sandbox.receiver.at("/configured").find((d) => JSON.parse(d.body).data.object.id === customer.id);
    const event = verify(delivery, sandbox.secrets.STRIPE_WEBHOOK_SECRET_LIVE);
    assert.equal(event.livemode, true);
    assert.equal(event.type, "customer.created");
    assert.throws(() => verify(delivery, sandbox.secrets.STRIPE_WEBHOOK_SECRET), Stripe.errors.StripeSignatureVerificationError);
  });

  test("live keys see live objects only, and test keys test objects only", async () => {
    const live = sandbox.client(sandbox.secrets.STRIPE_SECRET_KEY_LIVE);

    const customer = await live.customers.create({ name: "Live" });

    assert.equal(customer.livemode, true);
    await assert.rejects(stripe.customers.retrieve(customer.id), { statusCode: 404 });
    assert.equal((await live.customers.retrieve(customer.id)).id, customer.id);
  });
});

describe("idempotency", () => {
  test("the same key and parameters replay the first answer", async () => {
    const key = unique("idem-");

    const first = await stripe.customers.create({ name: "Once" }, { idempotencyKey: key });
    const again = await stripe.customers.create({ name: "Once" }, { idempotencyKey: key });

    assert.equal(again.id, first.id);
    assert.equal(again.lastResponse.headers["idempotent-replayed"], "true");
    assert.equal(again.lastResponse.headers["original-request"], first.lastResponse.requestId);
    assert.equal(first.lastResponse.headers["idempotent-replayed"], undefined);
    const named = await stripe.customers.list({ limit: 100 });
    assert.equal(named.data.filter((c) => c.id === first.id).length, 1);
  });

  test("the same key with other parameters is an idempotency error", async () => {
    const key = unique("idem-");
    await stripe.customers.create({ name: "First" }, { idempotencyKey: key });

    await assert.rejects(stripe.customers.create({ name: "Second" }, { idempotencyKey: key }), (err) => {
      assert.ok(err instanceof Stripe.errors.StripeIdempotencyError);
      assert.equal(err.type, "StripeIdempotencyError");
      assert.equal(err.rawType, "idempotency_error");
      assert.equal(err.statusCode, 400);
      return true;
    });
  });

  test("a failed request does not spend its key", async () => {
    const key = unique("idem-");

    await assert.rejects(stripe.customers.create({ email: "bad" }, { idempotencyKey: key }));
    const retried = await stripe.customers.create({ email: "good@example.test" }, { idempotencyKey: key });

    assert.equal(retried.email, "good@example.test");
  });

  test("keys are scoped to the account", async () => {
    const { token } = await sandbox.connect(stripe);
    const key = unique("idem-");

    const platform = await stripe.customers.create({ name: "P" }, { idempotencyKey: key });
    const connected = await stripe.customers.create({ name: "C" }, { idempotencyKey: key, stripeAccount: token.stripe_user_id });

    assert.notEqual(platform.id, connected.id);
  });
});

describe("Connect", () => {
  test("the authorize page, a grant and the token exchange connect an account", async () => {
    const { token, location } = await sandbox.connect(stripe, { state: "state & more" });

    assert.equal(location.origin + location.pathname, "http://127.0.0.1:9/callback");
    assert.equal(location.searchParams.get("state"), "state & more");
    assert.equal(location.searchParams.get("scope"), "read_write");
    assert.match(location.searchParams.get("code"), /^ac_/);
    assert.match(token.stripe_user_id, /^acct_/);
    assert.match(token.access_token, /^sk_test_[0-9A-Za-z]{16,}$/);
    assert.match(token.stripe_publishable_key, /^pk_test_/);
    assert.equal(token.livemode, false);
    assert.equal(token.token_type, "bearer");
    assert.equal(token.scope, "read_write");
  });

  test("a refusal redirects with access_denied and the state", async () => {
    const query = { response_type: "code", client_id: sandbox.secrets.STRIPE_CLIENT_ID_TEST, state: "s9", redirect_uri: "http://127.0.0.1:9/cb" };

    const res = await sandbox.raw("POST", "/oauth/authorize", { key: null, form: { ...query, decision: "deny" } });

    assert.equal(res.status, 302);
    const location = new URL(res.headers.get("location"));
    assert.equal(location.searchParams.get("error"), "access_denied");
    assert.equal(location.searchParams.get("state"), "s9");
  });

  test("an invalid authorize request is refused on the page and never redirected", async () => {
    const cases = [
      { client_id: "client-1", redirect_uri: "http://127.0.0.1:9/cb" },
      { client_id: "ca_1", redirect_uri: "javascript:alert(1)" },
      { client_id: "ca_1" },
    ];
    for (const params of cases) {
      const res = await sandbox.raw("GET", `/oauth/authorize?${new URLSearchParams({ response_type: "code", ...params })}`, { key: null });
      assert.equal(res.status, 400, JSON.stringify(params));
      assert.equal(res.headers.get("location"), null);
    }
  });

  test("codes are single use, expire after five minutes, and errors are OAuth errors", async () => {
    const { location } = await sandbox.connect(stripe);
    const used = location.searchParams.get("code");
    const query = { response_type: "code", client_id: sandbox.secrets.STRIPE_CLIENT_ID_TEST, redirect_uri: "http://127.0.0.1:9/cb" };
    const grant = await sandbox.raw("POST", "/oauth/authorize", { key: null, form: { ...query, decision: "allow" } });
    const fresh = new URL(grant.headers.get("location")).searchParams.get("code");

    await assert.rejects(stripe.oauth.token({ grant_type: "authorization_code", code: used }), (err) => {
      assert.ok(err instanceof Stripe.errors.StripeInvalidGrantError);
      assert.match(err.message, /already used/);
      return true;
    });
    await assert.rejects(stripe.oauth.token({ grant_type: "authorization_code", code: "ac_unknown" }), Stripe.errors.StripeInvalidGrantError);
    await assert.rejects(
      stripe.oauth.token({ grant_type: "authorization_code", code: fresh }, { headers: { "X-Tollgate-Dev-Now": String(Date.now() + 5 * 60_000 + 1000) } }),
      (err) => err instanceof Stripe.errors.StripeInvalidGrantError && /expired/.test(err.message),
    );
    await assert.rejects(stripe.oauth.token({ grant_type: "refresh_token", refresh_token: "rt_1" }), Stripe.errors.StripeOAuthError);
    const raw = await sandbox.raw("POST", "/oauth/token", { form: { grant_type: "authorization_code", code: "ac_nope" } });
    assert.equal(raw.status, 400);
    assert.deepEqual(Object.keys(raw.body).sort(), ["error", "error_description"]);
  });

  test("Stripe-Account scopes objects to the connected account", async () => {
    const { token } = await sandbox.connect(stripe);
    const account = token.stripe_user_id;

    const theirs = await stripe.customers.create({ name: "Theirs" }, { stripeAccount: account });
    const listed = await stripe.customers.list({ limit: 100 }, { stripeAccount: account });
    const platform = await stripe.customers.list({ limit: 100 });
    const viaToken = await sandbox.client(token.access_token).customers.retrieve(theirs.id);

    assert.deepEqual(listed.data.map((c) => c.id), [theirs.id]);
    assert.ok(!platform.data.some((c) => c.id === theirs.id));
    assert.equal(viaToken.id, theirs.id, "the access token acts as the connected account");
    await assert.rejects(stripe.customers.retrieve(theirs.id), { statusCode: 404, code: "resource_missing" });
  });

  test("an account not connected in the key's mode is refused with account_invalid", async () => {
    const { token } = await sandbox.connect(stripe);
    const live = sandbox.client(sandbox.secrets.STRIPE_SECRET_KEY_LIVE);

    for (const [client, account] of [[stripe, "acct_1NeverConnected"], [live, token.stripe_user_id], [stripe, "not-an-account"]]) {
      await assert.rejects(client.customers.list({}, { stripeAccount: account }), (err) => {
        assert.ok(err instanceof Stripe.errors.StripePermissionError, account);
        assert.equal(err.statusCode, 403);
        assert.equal(err.code, "account_invalid");
        assert.ok(!err.message.includes(sandbox.secrets.STRIPE_SECRET_KEY_TEST));
        return true;
      });
    }
  });

  test("deauthorizing disconnects the account and emits account.application.deauthorized", async () => {
    const endpoint = await stripe.webhookEndpoints.create({ url: `${sandbox.receiver.url}/connect`, enabled_events: ["account.application.deauthorized"], connect: true });
    const { token } = await sandbox.connect(stripe);
    const account = token.stripe_user_id;

    const answer = await stripe.oauth.deauthorize({ client_id: sandbox.secrets.STRIPE_CLIENT_ID_TEST, stripe_user_id: account });

    assert.deepEqual({ ...answer }, { stripe_user_id: account });
    await assert.rejects(stripe.customers.list({}, { stripeAccount: account }), { statusCode: 403, code: "account_invalid" });
    await assert.rejects(sandbox.client(token.access_token).customers.list(), Stripe.errors.StripeAuthenticationError);
    await assert.rejects(stripe.oauth.deauthorize({ client_id: sandbox.secrets.STRIPE_CLIENT_ID_TEST, stripe_user_id: account }), Stripe.errors.StripeInvalidClientError);
    const events = sandbox.receiver.at("/connect").map((d) => verify(d, endpoint.secret)).filter((e) => e.account === account);
    assert.deepEqual(events.map((e) => e.type), ["account.application.deauthorized"]);
    assert.equal(events[0].data.object.id, sandbox.secrets.STRIPE_CLIENT_ID_TEST);
    assert.equal(events[0].data.object.object, "application");
    await stripe.webhookEndpoints.del(endpoint.id);
  });
});

describe("checkout sessions", () => {
  test("a subscription session is open, totals its lines and links to the hosted page", async () => {
    const { price: p } = await price(stripe, { amount: 1900, recurring: { interval: "month" }, name: "Pro" });

    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: p.id, quantity: 2 }],
      success_url: "https://app.test/ok?session={CHECKOUT_SESSION_ID}",
      cancel_url: "https://app.test/cancel",
      customer_email: "buyer@example.test",
      client_reference_id: "user-7",
      metadata: { order: "o-1" },
      subscription_data: { metadata: { tier: "pro" } },
    });

    assert.match(session.id, /^cs_test_/);
    assert.equal(session.object, "checkout.session");
    assert.equal(session.status, "open");
    assert.equal(session.payment_status, "unpaid");
    assert.equal(session.amount_total, 3800);
    assert.equal(session.currency, "usd");
    assert.equal(session.url, `${sandbox.origin}/pay/${session.id}`);
    assert.equal(session.line_items, undefined, "line items only when expanded");
    assert.ok(session.expires_at - session.created >= 24 * 3600 - 5);
    const expanded = await stripe.checkout.sessions.retrieve(session.id, { expand: ["line_items"] });
    assert.equal(expanded.line_items.data[0].quantity, 2);
    assert.equal(expanded.line_items.data[0].description, "Pro");
    const lines = await stripe.checkout.sessions.listLineItems(session.id);
    assert.equal(lines.data[0].price.id, p.id);
    assert.equal(lines.data[0].amount_total, 3800);
  });

  test("a session's line items page like any list", async () => {
    const { price: a } = await price(stripe, { amount: 100, name: "A" });
    const { price: b } = await price(stripe, { amount: 200, name: "B" });
    const session = await stripe.checkout.sessions.create({ mode: "payment", line_items: [{ price: a.id, quantity: 1 }, { price: b.id, quantity: 2 }] });

    const first = await stripe.checkout.sessions.listLineItems(session.id, { limit: 1 });
    const second = await stripe.checkout.sessions.listLineItems(session.id, { limit: 1, starting_after: first.data[0].id });

    assert.equal(session.amount_total, 500);
    assert.deepEqual([first.data[0].description, first.has_more], ["A", true]);
    assert.deepEqual([second.data[0].description, second.data[0].amount_total, second.has_more], ["B", 400, false]);
    await assert.rejects(stripe.checkout.sessions.listLineItems(session.id, { starting_after: "li_missing" }), { statusCode: 404 });
  });

  test("sessions refuse prices that do not suit their mode or are inactive", async () => {
    const { price: monthly } = await price(stripe, { recurring: { interval: "month" } });
    const { price: once } = await price(stripe);
    const { price: archived } = await price(stripe);
    await stripe.prices.update(archived.id, { active: false });
    const soon = Math.floor(Date.now() / 1000) + 10 * 60;

    const refusals = [
      [{ mode: "payment", line_items: [{ price: monthly.id, quantity: 1 }] }, "line_items[0][price]"],
      [{ mode: "subscription", line_items: [{ price: once.id, quantity: 1 }] }, "line_items[0][price]"],
      [{ mode: "payment", line_items: [{ price: archived.id, quantity: 1 }] }, "line_items[0][price]"],
      [{ mode: "payment", line_items: [{ price: "price_missing", quantity: 1 }] }, "line_items[0][price]"],
      [{ mode: "payment", line_items: [{ price: once.id, quantity: 1 }], expires_at: soon }, "expires_at"],
      [{ mode: "payment", line_items: [{ price: once.id, quantity: 1 }], customer: "cus_missing" }, "customer"],
      [{ mode: "payment", line_items: [{ price: once.id, quantity: 1 }], subscription_data: { trial_period_days: 3 } }, "subscription_data"],
    ];
    for (const [params, param] of refusals) {
      await assert.rejects(stripe.checkout.sessions.create(params), (err) => {
        assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError, JSON.stringify(params));
        assert.equal(err.param, param, JSON.stringify(params));
        return true;
      });
    }
  });

  test("completing a subscription session creates the customer, an active subscription and a paid invoice, with their events in order", async () => {
    const { price: p } = await price(stripe, { amount: 2500, recurring: { interval: "month" } });
    const email = `${unique("sub")}@example.test`;
    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: p.id, quantity: 1 }],
      success_url: "https://app.test/ok",
      customer_email: email,
      metadata: { order: "o-2" },
      subscription_data: { metadata: { tier: "pro" } },
    });

    const completed = await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`);

    assert.equal(completed.status, 200);
    const paid = await stripe.checkout.sessions.retrieve(session.id);
    assert.equal(paid.status, "complete");
    assert.equal(paid.payment_status, "paid");
    assert.equal(paid.url, null);
    assert.deepEqual(paid.metadata, { order: "o-2" });
    assert.equal(paid.customer_details.email, email);
    const subscription = await stripe.subscriptions.retrieve(paid.subscription);
    assert.equal(subscription.status, "active");
    assert.equal(subscription.customer, paid.customer);
    assert.deepEqual(subscription.metadata, { tier: "pro" });
    const item = subscription.items.data[0];
    assert.equal(item.price.id, p.id);
    assert.equal(item.current_period_start, subscription.start_date);
    assert.equal(subscription.current_period_end, item.current_period_end);
    const start = new Date(item.current_period_start * 1000);
    const end = new Date(item.current_period_end * 1000);
    assert.equal((end.getUTCFullYear() * 12 + end.getUTCMonth()) - (start.getUTCFullYear() * 12 + start.getUTCMonth()), 1);
    const invoice = await stripe.invoices.retrieve(subscription.latest_invoice);
    assert.equal(invoice.status, "paid");
    assert.equal(invoice.amount_paid, 2500);
    assert.equal(invoice.currency, "usd");
    assert.equal(invoice.parent.subscription_details.subscription, subscription.id);
    assert.equal(invoice.subscription, subscription.id);
    assert.equal(invoice.lines.data[0].amount, 2500);
    const customer = await stripe.customers.retrieve(paid.customer);
    assert.equal(customer.email, email);

    const delivered = configuredTestEvents();
    const ours = delivered.filter((e) => [paid.customer, session.id, subscription.id, invoice.id].includes(e.data.object.id));
    assert.deepEqual(ours.map((e) => e.type), ["customer.created", "checkout.session.completed", "customer.subscription.created", "invoice.paid"]);
    assert.equal(ours[1].data.object.subscription, subscription.id);
    assert.equal(ours[1].data.object.status, "complete");
    for (const event of ours) {
      assert.equal(event.object, "event");
      assert.equal(event.api_version, Stripe.API_VERSION);
      assert.equal(event.account, undefined, "platform events carry no account");
      assert.equal(event.livemode, false);
      assert.deepEqual(event.request, { id: null, idempotency_key: null });
      const stored = await stripe.events.retrieve(event.id);
      assert.equal(stored.type, event.type);
    }
  });

  test("a trial subscription starts trialing with trial_end and a zero invoice", async () => {
    const { price: p } = await price(stripe, { recurring: { interval: "month" } });
    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: p.id, quantity: 1 }],
      subscription_data: { trial_period_days: 14 },
    });

    await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`, { json: { email: "trial@example.test" } });

    const paid = await stripe.checkout.sessions.retrieve(session.id, { expand: ["subscription", "customer"] });
    assert.equal(paid.payment_status, "no_payment_required");
    assert.equal(paid.subscription.status, "trialing");
    assert.equal(paid.subscription.trial_end - paid.subscription.trial_start, 14 * 86400);
    assert.equal(paid.customer.email, "trial@example.test");
    const invoice = await stripe.invoices.retrieve(paid.subscription.latest_invoice);
    assert.equal(invoice.total, 0);
  });

  test("completing a payment session records a payment intent for an existing customer", async () => {
    const customer = await stripe.customers.create({ email: `${unique("pay")}@example.test` });
    const { price: p } = await price(stripe, { amount: 700 });
    const session = await stripe.checkout.sessions.create({
      mode: "payment",
      customer: customer.id,
      line_items: [{ price: p.id, quantity: 3 }],
      payment_intent_data: { metadata: { cart: "c1" } },
    });

    await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`);

    const paid = await stripe.checkout.sessions.retrieve(session.id);
    assert.equal(paid.status, "complete");
    assert.equal(paid.customer, customer.id);
    assert.equal(paid.subscription, null);
    assert.match(paid.payment_intent, /^pi_/);
    const intent = await stripe.paymentIntents.retrieve(paid.payment_intent);
    assert.equal(intent.amount, 2100);
    assert.equal(intent.status, "succeeded");
    assert.deepEqual(intent.metadata, { cart: "c1" });
    assert.deepEqual(configuredEventsAbout(session.id).map((e) => e.type), ["checkout.session.completed"]);
    const again = await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`);
    assert.equal(again.status, 400);
  });

  test("expiring an open session emits checkout.session.expired once; a closed one cannot expire", async () => {
    const { price: p } = await price(stripe);
    const session = await stripe.checkout.sessions.create({ mode: "payment", line_items: [{ price: p.id, quantity: 1 }] });

    const expired = await stripe.checkout.sessions.expire(session.id);

    assert.equal(expired.status, "expired");
    assert.equal(expired.url, null);
    await assert.rejects(stripe.checkout.sessions.expire(session.id), { statusCode: 400 });
    assert.deepEqual(configuredEventsAbout(session.id).map((e) => e.type), ["checkout.session.expired"]);
  });

  test("a session read after its expiry has expired, with one event however often it is read", async () => {
    const { price: p } = await price(stripe);
    const session = await stripe.checkout.sessions.create({ mode: "payment", line_items: [{ price: p.id, quantity: 1 }] });
    const later = { headers: { "X-Tollgate-Dev-Now": String((session.expires_at + 1) * 1000) } };

    const before = await stripe.checkout.sessions.retrieve(session.id);
    const first = await stripe.checkout.sessions.retrieve(session.id, {}, later);
    const second = await stripe.checkout.sessions.retrieve(session.id);
    const listed = await stripe.checkout.sessions.list({ status: "expired", limit: 100 });

    assert.equal(before.status, "open");
    assert.equal(first.status, "expired");
    assert.equal(second.status, "expired");
    assert.ok(listed.data.some((s) => s.id === session.id));
    assert.deepEqual(configuredEventsAbout(session.id).map((e) => e.type), ["checkout.session.expired"]);
  });

  test("the expire control ends an open session as if its time had passed", async () => {
    const { price: p } = await price(stripe);
    const session = await stripe.checkout.sessions.create({ mode: "payment", line_items: [{ price: p.id, quantity: 1 }] });

    const res = await sandbox.control("POST", `/checkout/sessions/${session.id}/expire`);
    const refused = await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`);

    assert.equal(res.body.status, "expired");
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.type, "invalid_request_error");
  });

  test("a delayed method completes a payment session unpaid; its success pays it with checkout.session.async_payment_succeeded", async () => {
    const { price: p } = await price(stripe, { amount: 1200 });
    const session = await stripe.checkout.sessions.create({ mode: "payment", line_items: [{ price: p.id, quantity: 2 }], customer_email: `${unique("sepa")}@example.test` });

    await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`, { form: { payment_method_type: "sepa_debit" } });

    const pending = await stripe.checkout.sessions.retrieve(session.id);
    assert.deepEqual([pending.status, pending.payment_status], ["complete", "unpaid"]);
    const processing = await stripe.paymentIntents.retrieve(pending.payment_intent);
    assert.deepEqual([processing.status, processing.amount, processing.amount_received], ["processing", 2400, 0]);
    assert.deepEqual(processing.payment_method_types, ["sepa_debit"]);

    const settled = await sandbox.control("POST", `/checkout/sessions/${session.id}/succeed_payment`);

    assert.equal(settled.status, 200);
    const paid = await stripe.checkout.sessions.retrieve(session.id);
    assert.deepEqual([paid.status, paid.payment_status], ["complete", "paid"]);
    const intent = await stripe.paymentIntents.retrieve(paid.payment_intent);
    assert.deepEqual([intent.status, intent.amount_received], ["succeeded", 2400]);
    const events = configuredEventsAbout(session.id);
    assert.deepEqual(events.map((e) => e.type), ["checkout.session.completed", "checkout.session.async_payment_succeeded"]);
    assert.equal(events[0].data.object.payment_status, "unpaid");
    assert.equal(events[1].data.object.payment_status, "paid");
    const again = await sandbox.control("POST", `/checkout/sessions/${session.id}/succeed_payment`);
    assert.equal(again.status, 400, "a settled payment settles once");
    assert.equal(again.body.error.type, "invalid_request_error");
  });

  test("a delayed payment that fails leaves the session unpaid with checkout.session.async_payment_failed", async () => {
    const { price: p } = await price(stripe, { amount: 800 });
    const session = await stripe.checkout.sessions.create({ mode: "payment", line_items: [{ price: p.id, quantity: 1 }], customer_email: `${unique("sepa")}@example.test` });
    await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`, { form: { payment_method_type: "sepa_debit" } });

    const failed = await sandbox.control("POST", `/checkout/sessions/${session.id}/fail_payment`);

    assert.equal(failed.status, 200);
    const after = await stripe.checkout.sessions.retrieve(session.id);
    assert.deepEqual([after.status, after.payment_status], ["complete", "unpaid"]);
    const intent = await stripe.paymentIntents.retrieve(after.payment_intent);
    assert.equal(intent.status, "requires_payment_method");
    assert.equal(intent.last_payment_error.code, "insufficient_funds");
    assert.deepEqual(configuredEventsAbout(session.id).map((e) => e.type), ["checkout.session.completed", "checkout.session.async_payment_failed"]);
    const card = await stripe.checkout.sessions.create({ mode: "payment", line_items: [{ price: p.id, quantity: 1 }] });
    await sandbox.control("POST", `/checkout/sessions/${card.id}/complete`);
    const notDelayed = await sandbox.control("POST", `/checkout/sessions/${card.id}/fail_payment`);
    assert.equal(notDelayed.status, 400, "a card payment has nothing left to settle");
  });

  test("a delayed first payment leaves the subscription incomplete with an open invoice until it succeeds", async () => {
    const { price: p } = await price(stripe, { amount: 3000, recurring: { interval: "month" } });
    const session = await stripe.checkout.sessions.create({ mode: "subscription", line_items: [{ price: p.id, quantity: 1 }], customer_email: `${unique("sepa")}@example.test` });

    await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`, { form: { payment_method_type: "sepa_debit" } });

    const pending = await stripe.checkout.sessions.retrieve(session.id, { expand: ["subscription", "invoice"] });
    assert.equal(pending.payment_status, "unpaid");
    assert.equal(pending.subscription.status, "incomplete");
    assert.deepEqual([pending.invoice.status, pending.invoice.amount_paid, pending.invoice.amount_remaining], ["open", 0, 3000]);
    const subscriptionId = pending.subscription.id;
    const unpaidCharges = await stripe.charges.list({ customer: pending.customer });

    await sandbox.control("POST", `/checkout/sessions/${session.id}/succeed_payment`);

    const paidCharges = await stripe.charges.list({ customer: pending.customer });
    assert.deepEqual(unpaidCharges.data, [], "nothing is charged while the debit is pending");
    assert.deepEqual(paidCharges.data.map((c) => [c.amount, c.status, c.customer]), [[3000, "succeeded", pending.customer]]);

    const subscription = await stripe.subscriptions.retrieve(subscriptionId);
    assert.equal(subscription.status, "active");
    const invoice = await stripe.invoices.retrieve(subscription.latest_invoice);
    assert.deepEqual([invoice.status, invoice.amount_paid, invoice.amount_remaining], ["paid", 3000, 0]);
    const events = configuredTestEvents().filter((e) => [session.id, subscriptionId, invoice.id].includes(e.data.object.id));
    assert.deepEqual(events.map((e) => e.type), [
      "checkout.session.completed",
      "customer.subscription.created",
      "invoice.paid",
      "customer.subscription.updated",
      "checkout.session.async_payment_succeeded",
    ]);
    const updated = events.find((e) => e.type === "customer.subscription.updated");
    assert.deepEqual(updated.data.previous_attributes, { status: "incomplete" });
  });
});

/** A paid monthly subscription, started through checkout. */
async function subscribed({ amount = 1900, account } = {}) {
  const options = account ? { stripeAccount: account } : undefined;
  const { price: p } = await price(stripe, { amount, recurring: { interval: "month" }, options });
  const session = await stripe.checkout.sessions.create(
    { mode: "subscription", line_items: [{ price: p.id, quantity: 1 }], customer_email: `${unique("s")}@example.test` },
    options,
  );
  const headers = account ? { "Stripe-Account": account } : {};
  await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`, { headers });
  const paid = await stripe.checkout.sessions.retrieve(session.id, {}, options);
  return stripe.subscriptions.retrieve(paid.subscription, {}, options);
}

describe("subscriptions", () => {
  test("cancel at period end and back emit customer.subscription.updated with previous attributes", async () => {
    const subscription = await subscribed();

    const leaving = await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });
    const staying = await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: false, proration_behavior: "none" });

    assert.equal(leaving.cancel_at_period_end, true);
    assert.equal(leaving.cancel_at, subscription.current_period_end);
    assert.equal(staying.cancel_at, null);
    const updates = configuredEventsAbout(subscription.id).filter((e) => e.type === "customer.subscription.updated");
    assert.equal(updates.length, 2);
    assert.equal(updates[0].data.previous_attributes.cancel_at_period_end, false);
    assert.equal(updates[1].data.previous_attributes.cancel_at_period_end, true);
    assert.match(updates[0].request.id, /^req_/);
  });

  test("an item's price changes through items[0][id] and items[0][price]", async () => {
    const subscription = await subscribed();
    const upgrade = await stripe.prices.create({ product: subscription.items.data[0].price.product, unit_amount: 4900, currency: "usd", recurring: { interval: "month" } });

    const changed = await stripe.subscriptions.update(subscription.id, {
      items: [{ id: subscription.items.data[0].id, price: upgrade.id }],
      metadata: { tier: "team" },
      proration_behavior: "create_prorations",
    });

    assert.equal(changed.items.data[0].price.id, upgrade.id);
    assert.equal(changed.items.data[0].plan.amount, 4900);
    assert.deepEqual(changed.metadata, { tier: "team" });
    const update = configuredEventsAbout(subscription.id).find((e) => e.type === "customer.subscription.updated");
    assert.equal(update.data.previous_attributes.items.data[0].price.id, subscription.items.data[0].price.id);
    await assert.rejects(stripe.subscriptions.update(subscription.id, { items: [{ id: "si_missing", price: upgrade.id }] }), { statusCode: 404 });
  });

  test("canceling ends the subscription now with customer.subscription.deleted", async () => {
    const subscription = await subscribed();

    const canceled = await stripe.subscriptions.cancel(subscription.id);

    assert.equal(canceled.status, "canceled");
    assert.equal(typeof canceled.ended_at, "number");
    assert.deepEqual(configuredEventsAbout(subscription.id).map((e) => e.type).slice(-1), ["customer.subscription.deleted"]);
    await assert.rejects(stripe.subscriptions.cancel(subscription.id), { statusCode: 400 });
    await assert.rejects(stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true }), { statusCode: 400 });
    const listed = await stripe.subscriptions.list({ customer: subscription.customer });
    const all = await stripe.subscriptions.list({ customer: subscription.customer, status: "all" });
    assert.deepEqual(listed.data, []);
    assert.deepEqual(all.data.map((s) => s.id), [subscription.id]);
  });

  test("advancing renews into the next calendar period with a paid invoice", async () => {
    const subscription = await subscribed({ amount: 1200 });

    const res = await sandbox.control("POST", `/subscriptions/${subscription.id}/advance`);

    assert.equal(res.status, 200);
    const renewed = await stripe.subscriptions.retrieve(subscription.id);
    assert.equal(renewed.current_period_start, subscription.current_period_end);
    assert.equal(renewed.items.data[0].current_period_start, subscription.current_period_end);
    assert.notEqual(renewed.latest_invoice, subscription.latest_invoice);
    const invoice = await stripe.invoices.retrieve(renewed.latest_invoice);
    assert.equal(invoice.status, "paid");
    assert.equal(invoice.billing_reason, "subscription_cycle");
    const types = configuredEventsAbout(subscription.id).map((e) => e.type);
    assert.deepEqual(types.slice(-2), ["customer.subscription.updated", "invoice.paid"]);
    const invoices = await stripe.invoices.list({ subscription: subscription.id });
    assert.equal(invoices.data.length, 2);
  });

  test("advancing a subscription set to cancel at period end ends it", async () => {
    const subscription = await subscribed();
    await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });

    await sandbox.control("POST", `/subscriptions/${subscription.id}/advance`);

    const ended = await stripe.subscriptions.retrieve(subscription.id);
    assert.equal(ended.status, "canceled");
    assert.equal(ended.ended_at, subscription.current_period_end);
    assert.deepEqual(configuredEventsAbout(subscription.id).map((e) => e.type).slice(-1), ["customer.subscription.deleted"]);
  });

  test("a failed renewal leaves an open invoice and a past_due subscription", async () => {
    const subscription = await subscribed();

    await sandbox.control("POST", `/subscriptions/${subscription.id}/fail_renewal`);

    const due = await stripe.subscriptions.retrieve(subscription.id, { expand: ["latest_invoice"] });
    assert.equal(due.status, "past_due");
    assert.equal(due.latest_invoice.status, "open");
    assert.equal(due.latest_invoice.amount_remaining, 1900);
    const events = configuredEventsAbout(subscription.id);
    assert.deepEqual(events.map((e) => e.type).slice(-2), ["invoice.payment_failed", "customer.subscription.updated"]);
    assert.equal(events.at(-1).data.previous_attributes.status, "active");
  });

  test("an always_invoice price change is invoiced and paid at once, then applied", async () => {
    const subscription = await subscribed({ amount: 1000 });
    const upgrade = await stripe.prices.create({ product: subscription.items.data[0].price.product, unit_amount: 3000, currency: "usd", recurring: { interval: "month" } });

    const changed = await stripe.subscriptions.update(subscription.id, {
      items: [{ id: subscription.items.data[0].id, price: upgrade.id }],
      proration_behavior: "always_invoice",
      payment_behavior: "pending_if_incomplete",
      expand: ["latest_invoice"],
    });

    assert.equal(changed.items.data[0].price.id, upgrade.id);
    assert.equal(changed.pending_update, null);
    const invoice = changed.latest_invoice;
    assert.equal(invoice.billing_reason, "subscription_update");
    assert.equal(invoice.status, "paid");
    const lines = invoice.lines.data;
    assert.equal(lines.length, 2);
    assert.ok(lines.every((l) => l.parent.subscription_item_details.proration === true));
    assert.ok(lines[0].amount < 0 && lines[1].amount > 0, "a credit for the old price, a charge for the new");
    assert.equal(invoice.amount_paid, lines[0].amount + lines[1].amount);
    assert.ok(invoice.amount_paid > 0 && invoice.amount_paid <= 2000);
    assert.equal(lines[1].period.end, subscription.current_period_end);
    const types = configuredEventsAbout(subscription.id).map((e) => e.type);
    assert.deepEqual(types.slice(-2), ["invoice.paid", "customer.subscription.updated"]);
    await assert.rejects(
      stripe.subscriptions.update(subscription.id, { items: [{ id: subscription.items.data[0].id, price: upgrade.id }], payment_behavior: "pending_if_incomplete", metadata: { a: "b" } }),
      { statusCode: 400, param: "metadata" },
    );
  });

  test("a declined pending_if_incomplete change keeps the old price with a pending_update until its invoice is paid", async () => {
    const subscription = await subscribed({ amount: 1000 });
    const item = subscription.items.data[0];
    const upgrade = await stripe.prices.create({ product: item.price.product, unit_amount: 3000, currency: "usd", recurring: { interval: "month" } });
    const armed = await sandbox.control("POST", `/subscriptions/${subscription.id}/fail_next_payment`);
    assert.equal(armed.status, 200);

    const held = await stripe.subscriptions.update(subscription.id, {
      items: [{ id: item.id, price: upgrade.id }],
      proration_behavior: "always_invoice",
      payment_behavior: "pending_if_incomplete",
    });

    assert.equal(held.items.data[0].price.id, item.price.id, "still the old price");
    assert.equal(held.status, "active");
    const pending = held.pending_update;
    assert.equal(typeof pending.expires_at, "number");
    assert.ok(pending.expires_at - Math.floor(Date.now() / 1000) > 22 * 3600);
    assert.equal(pending.subscription_items[0].price.id, upgrade.id);
    assert.equal(pending.billing_cycle_anchor, null);
    assert.equal(pending.trial_end, null);
    const open = await stripe.invoices.retrieve(held.latest_invoice);
    assert.equal(open.status, "open");
    assert.equal(open.billing_reason, "subscription_update");
    assert.equal(open.amount_paid, 0);
    assert.deepEqual(configuredEventsAbout(subscription.id).map((e) => e.type).slice(-2), ["invoice.payment_failed", "customer.subscription.updated"]);

    const paid = await stripe.invoices.pay(open.id);

    assert.equal(paid.status, "paid");
    assert.equal(paid.amount_paid, open.amount_due);
    const applied = await stripe.subscriptions.retrieve(subscription.id);
    assert.equal(applied.items.data[0].price.id, upgrade.id);
    assert.equal(applied.pending_update, null);
    assert.deepEqual(
      configuredEventsAbout(subscription.id).map((e) => e.type).slice(-3),
      ["invoice.paid", "customer.subscription.updated", "customer.subscription.pending_update_applied"],
    );
    await assert.rejects(stripe.invoices.pay(open.id), { statusCode: 400 });
  });

  test("an unpaid pending update is discarded at the renewal, which bills the old price", async () => {
    const subscription = await subscribed({ amount: 1000 });
    const item = subscription.items.data[0];
    const upgrade = await stripe.prices.create({ product: item.price.product, unit_amount: 3000, currency: "usd", recurring: { interval: "month" } });
    await sandbox.control("POST", `/subscriptions/${subscription.id}/fail_next_payment`);
    await stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, price: upgrade.id }], proration_behavior: "always_invoice", payment_behavior: "pending_if_incomplete" });

    await sandbox.control("POST", `/subscriptions/${subscription.id}/advance`);

    const renewed = await stripe.subscriptions.retrieve(subscription.id, { expand: ["latest_invoice"] });
    assert.equal(renewed.pending_update, null);
    assert.equal(renewed.items.data[0].price.id, item.price.id);
    assert.equal(renewed.latest_invoice.amount_paid, 1000);
    assert.ok(configuredEventsAbout(subscription.id).some((e) => e.type === "customer.subscription.pending_update_expired"));
  });

  test("a declined change with error_if_incomplete is a card error and changes nothing; fail_next_payment also fails a renewal", async () => {
    const subscription = await subscribed({ amount: 1000 });
    const item = subscription.items.data[0];
    const upgrade = await stripe.prices.create({ product: item.price.product, unit_amount: 3000, currency: "usd", recurring: { interval: "month" } });
    await sandbox.control("POST", `/subscriptions/${subscription.id}/fail_next_payment`, { form: { count: "2" } });

    await assert.rejects(
      stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, price: upgrade.id }], proration_behavior: "always_invoice", payment_behavior: "error_if_incomplete" }),
      { type: "StripeCardError", statusCode: 402, code: "card_declined" },
    );
    const same = await stripe.subscriptions.retrieve(subscription.id);
    assert.equal(same.items.data[0].price.id, item.price.id);
    assert.equal(same.latest_invoice, subscription.latest_invoice);

    await sandbox.control("POST", `/subscriptions/${subscription.id}/advance`);
    const due = await stripe.subscriptions.retrieve(subscription.id);
    assert.equal(due.status, "past_due", "the second declined payment was the renewal's");
  });

  test("subscriptions of a connected account carry its account on their events", async () => {
    const { token } = await sandbox.connect(stripe);

    const subscription = await subscribed({ account: token.stripe_user_id });

    const events = configuredEventsAbout(subscription.id);
    assert.ok(events.length > 0);
    for (const event of events) assert.equal(event.account, token.stripe_user_id);
    await assert.rejects(stripe.subscriptions.retrieve(subscription.id), { statusCode: 404 });
  });
});

describe("charges, refunds and disputes", () => {
  /** A paid payment-mode session of `amount`; returns its payment intent and charge ids. */
  async function paidCharge(amount = 2100) {
    const { price: p } = await price(stripe, { amount });
    const session = await stripe.checkout.sessions.create({ mode: "payment", line_items: [{ price: p.id, quantity: 1 }], customer_email: `${unique("charge")}@example.test` });
    await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`);
    const intent = await stripe.paymentIntents.retrieve((await stripe.checkout.sessions.retrieve(session.id)).payment_intent);
    return { intent, charge: intent.latest_charge };
  }
  /** Verified deliveries about a charge (the charge itself, its refunds and disputes), oldest first. */
  const eventsAboutCharge = (charge) =>
    configuredTestEvents().filter((e) => e.data.object.id === charge || e.data.object.charge === charge);

  test("a paid payment session's intent has a succeeded charge as its latest charge", async () => {
    const { intent, charge: id } = await paidCharge();

    const charge = await stripe.charges.retrieve(id);
    const expanded = await stripe.paymentIntents.retrieve(intent.id, { expand: ["latest_charge"] });

    assert.match(id, /^ch_/);
    assert.deepEqual(
      [charge.object, charge.amount, charge.amount_captured, charge.amount_refunded, charge.paid, charge.captured, charge.refunded, charge.disputed, charge.status],
      ["charge", 2100, 2100, 0, true, true, false, false, "succeeded"],
    );
    assert.deepEqual([charge.payment_intent, charge.customer, charge.currency], [intent.id, intent.customer, "usd"]);
    assert.equal(charge.payment_method_details.type, "card");
    assert.equal(expanded.latest_charge.id, id);
  });

  test("every paid subscription invoice is charged to the customer, a renewal too; a trial's invoice charges nothing", async () => {
    const subscription = await subscribed({ amount: 1200 });
    const { price: p } = await price(stripe, { amount: 1200, recurring: { interval: "month" } });
    const trial = await stripe.checkout.sessions.create({ mode: "subscription", line_items: [{ price: p.id, quantity: 1 }], subscription_data: { trial_period_days: 7 }, customer_email: `${unique("trial")}@example.test` });
    await sandbox.control("POST", `/checkout/sessions/${trial.id}/complete`);

    await sandbox.control("POST", `/subscriptions/${subscription.id}/advance`);

    const charges = await stripe.charges.list({ customer: subscription.customer });
    assert.deepEqual(charges.data.map((c) => [c.object, c.amount, c.status, c.description]).sort(), [
      ["charge", 1200, "succeeded", "Subscription creation"],
      ["charge", 1200, "succeeded", "Subscription update"],
    ]);
    for (const charge of charges.data) {
      const intent = await stripe.paymentIntents.retrieve(charge.payment_intent);
      assert.deepEqual([intent.status, intent.latest_charge, intent.amount], ["succeeded", charge.id, 1200]);
    }
    const trialCustomer = (await stripe.checkout.sessions.retrieve(trial.id)).customer;
    assert.deepEqual((await stripe.charges.list({ customer: trialCustomer })).data, []);
    const byIntent = await stripe.charges.list({ payment_intent: charges.data[0].payment_intent });
    assert.deepEqual(byIntent.data.map((c) => c.id), [charges.data[0].id]);
  });

  test("refunds by charge and by payment intent take part, then the rest, and fire charge.refunded with the total", async () => {
    const { intent, charge } = await paidCharge();

    const part = await stripe.refunds.create({ charge, amount: 500, reason: "requested_by_customer", metadata: { ticket: "t1" } });
    const rest = await stripe.refunds.create({ payment_intent: intent.id });
    const after = await stripe.charges.retrieve(charge);
    const events = eventsAboutCharge(charge);

    assert.match(part.id, /^re_/);
    assert.deepEqual([part.object, part.amount, part.charge, part.payment_intent, part.status, part.reason, part.metadata], ["refund", 500, charge, intent.id, "succeeded", "requested_by_customer", { ticket: "t1" }]);
    assert.deepEqual([rest.amount, rest.reason], [1600, null]);
    assert.deepEqual((await stripe.refunds.retrieve(part.id)).amount, 500);
    assert.deepEqual([after.amount_refunded, after.refunded], [2100, true]);
    const refunded = events.filter((e) => e.type === "charge.refunded");
    assert.deepEqual(refunded.map((e) => [e.data.object.amount_refunded, e.data.object.refunded]), [[500, false], [2100, true]]);
    assert.deepEqual(refunded[0].data.previous_attributes, { amount_refunded: 0 });
    assert.deepEqual(events.map((e) => e.type), ["refund.created", "charge.refunded", "refund.created", "charge.refunded"]);
    await assert.rejects(stripe.refunds.create({ charge }), (err) => err instanceof Stripe.errors.StripeInvalidRequestError && err.code === "charge_already_refunded");
  });

  test("a refund larger than what is left, or naming nothing to refund, is refused and refunds nothing", async () => {
    const { charge } = await paidCharge(1000);

    await assert.rejects(stripe.refunds.create({ charge, amount: 1001 }), (err) => err instanceof Stripe.errors.StripeInvalidRequestError && err.code === "amount_too_large" && err.param === "amount");
    await assert.rejects(stripe.refunds.create({}), Stripe.errors.StripeInvalidRequestError);
    await assert.rejects(stripe.refunds.create({ charge: "ch_missing" }), (err) => err.statusCode === 404 && err.code === "resource_missing");

    assert.equal((await stripe.charges.retrieve(charge)).amount_refunded, 0);
  });

  test("a dispute opens on a charge and closes once, won or lost, with its events", async () => {
    const won = await paidCharge();
    const lost = await paidCharge();

    const opened = await sandbox.control("POST", `/charges/${won.charge}/dispute`, { form: { reason: "product_not_received" } });
    const dispute = await stripe.disputes.retrieve(opened.body.id);
    await assert.rejects(stripe.refunds.create({ charge: won.charge }), (err) => err.code === "charge_disputed");
    const closed = await sandbox.control("POST", `/disputes/${dispute.id}/close`, { form: { status: "won" } });
    const twice = await sandbox.control("POST", `/disputes/${dispute.id}/close`, { form: { status: "lost" } });
    const other = await sandbox.control("POST", `/charges/${lost.charge}/dispute`);
    await sandbox.control("POST", `/disputes/${other.body.id}/close`, { form: { status: "lost" } });

    assert.match(dispute.id, /^dp_/);
    assert.deepEqual([dispute.object, dispute.charge, dispute.payment_intent, dispute.amount, dispute.status, dispute.reason], ["dispute", won.charge, won.intent.id, 2100, "needs_response", "product_not_received"]);
    assert.equal((await stripe.charges.retrieve(won.charge)).disputed, true);
    assert.deepEqual([closed.status, closed.body.status, twice.status], [200, "won", 400]);
    assert.deepEqual(eventsAboutCharge(won.charge).map((e) => [e.type, e.data.object.status]), [["charge.dispute.created", "needs_response"], ["charge.dispute.closed", "won"]]);
    assert.deepEqual(eventsAboutCharge(lost.charge).map((e) => [e.type, e.data.object.status]), [["charge.dispute.created", "needs_response"], ["charge.dispute.closed", "lost"]]);
  });
});

describe("billing portal", () => {
  test("a portal session links to the portal page for its customer", async () => {
    const subscription = await subscribed();

    const session = await stripe.billingPortal.sessions.create({ customer: subscription.customer, return_url: "https://app.test/account" });
    const page = await fetch(session.url);
    const html = await page.text();

    assert.equal(session.object, "billing_portal.session");
    assert.equal(session.customer, subscription.customer);
    assert.equal(session.return_url, "https://app.test/account");
    assert.equal(session.url, `${sandbox.origin}/portal/${session.id}`);
    assert.equal(page.status, 200);
    assert.ok(html.includes(subscription.id));
    await assert.rejects(stripe.billingPortal.sessions.create({ customer: "cus_missing" }), { statusCode: 404, param: "customer" });
  });
});

describe("webhook endpoints and events", () => {
  test("an endpoint shows its secret only when created, lists and deletes", async () => {
    const endpoint = await stripe.webhookEndpoints.create({ url: `${sandbox.receiver.url}/listed`, enabled_events: ["invoice.paid"], description: "d" });

    const listed = await stripe.webhookEndpoints.list();
    const read = await stripe.webhookEndpoints.retrieve(endpoint.id);
    const removed = await stripe.webhookEndpoints.del(endpoint.id);

    assert.match(endpoint.secret, /^whsec_/);
    assert.equal(endpoint.status, "enabled");
    assert.deepEqual(endpoint.enabled_events, ["invoice.paid"]);
    assert.equal(read.secret, undefined);
    assert.ok(listed.data.some((e) => e.id === endpoint.id && e.secret === undefined));
    assert.deepEqual({ ...removed }, { id: endpoint.id, object: "webhook_endpoint", deleted: true });
    await assert.rejects(stripe.webhookEndpoints.retrieve(endpoint.id), { statusCode: 404 });
  });

  test("an endpoint receives the events it enabled, signed with its own secret", async () => {
    const endpoint = await stripe.webhookEndpoints.create({ url: `${sandbox.receiver.url}/only-customers`, enabled_events: ["customer.created"] });
    const { price: p } = await price(stripe);
    const session = await stripe.checkout.sessions.create({ mode: "payment", line_items: [{ price: p.id, quantity: 1 }], customer_email: "only@example.test" });

    await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`);

    const deliveries = sandbox.receiver.at("/only-customers");
    const events = deliveries.map((d) => verify(d, endpoint.secret));
    assert.deepEqual(events.map((e) => e.type), ["customer.created"]);
    assert.throws(() => verify(deliveries[0], sandbox.secrets.STRIPE_WEBHOOK_SECRET), Stripe.errors.StripeSignatureVerificationError);
    assert.equal(deliveries[0].headers["content-type"], "application/json; charset=utf-8");
    await stripe.webhookEndpoints.del(endpoint.id);
  });

  test("events are listed by type and each names its request", async () => {
    const customer = await stripe.customers.create({ name: "Listed" }, { idempotencyKey: unique("evt-") });

    const events = await stripe.events.list({ type: "customer.created", limit: 5 });
    const prefixed = await stripe.events.list({ type: "customer.*", limit: 5 });

    const ours = events.data.find((e) => e.data.object.id === customer.id);
    assert.ok(ours);
    assert.ok(events.data.every((e) => e.type === "customer.created"));
    assert.ok(prefixed.data.every((e) => e.type.startsWith("customer.")));
    assert.equal(ours.request.id, customer.lastResponse.requestId);
    assert.match(ours.request.idempotency_key, /^evt-/);
    assert.equal(ours.pending_webhooks, 0, "every delivery succeeded");
    await assert.rejects(stripe.events.retrieve("evt_missing"), { statusCode: 404 });
  });

  test("a failed delivery is recorded, never fails the call, and can be replayed", async () => {
    const endpoint = await stripe.webhookEndpoints.create({ url: `${sandbox.receiver.url}/failing`, enabled_events: ["customer.created"] });
    const gone = await stripe.webhookEndpoints.create({ url: "http://127.0.0.1:9/unreachable", enabled_events: ["customer.created"] });
    sandbox.receiver.answer("/failing", 500);

    const customer = await stripe.customers.create({ name: "Unlucky" });

    const event = (await stripe.events.list({ type: "customer.created", limit: 10 })).data.find((e) => e.data.object.id === customer.id);
    assert.equal(event.pending_webhooks, 2);
    const first = await sandbox.control("GET", `/events/${event.id}/deliveries`);
    const byEndpoint = Object.fromEntries(first.body.data.map((d) => [d.endpoint, d]));
    assert.equal(byEndpoint[endpoint.id].status, 500);
    assert.equal(byEndpoint[gone.id].status, null);
    assert.equal(typeof byEndpoint[gone.id].error, "string");
    assert.equal(byEndpoint["we_1TollgateSandboxConfigured"].status, 200);

    sandbox.receiver.answer("/failing", 200);
    const replay = await sandbox.control("POST", `/events/${event.id}/replay`);
    const after = await sandbox.control("GET", `/events/${event.id}/deliveries`);

    assert.equal(replay.status, 200);
    assert.equal(replay.body.data.find((d) => d.endpoint === endpoint.id).status, 200);
    assert.equal(after.body.data.length, first.body.data.length * 2);
    const received = sandbox.receiver.at("/failing").map((d) => verify(d, endpoint.secret)).filter((e) => e.id === event.id);
    assert.equal(received.length, 2, "delivered, then replayed");
    await stripe.webhookEndpoints.del(endpoint.id);
    await stripe.webhookEndpoints.del(gone.id);
  });
});

describe("injected faults", () => {
  test("the next matching calls answer the injected error, then calls succeed again", async () => {
    const fault = await sandbox.control("POST", "/faults", { json: { path: "/v1/products", status: 503, count: 2 } });

    await assert.rejects(stripe.products.list(), (err) => err instanceof Stripe.errors.StripeAPIError && err.statusCode === 503);
    await assert.rejects(stripe.products.create({ name: "x" }), { statusCode: 503 });
    const recovered = await stripe.products.list({ limit: 1 });

    assert.equal(fault.status, 200);
    assert.equal(fault.body.remaining, 2);
    assert.equal(recovered.object, "list");
  });

  test("a client with retries gets through a single injected 500", async () => {
    await sandbox.control("POST", "/faults", { json: { path: "/v1/customers", status: 500, count: 1, method: "POST" } });
    const retrying = sandbox.client(undefined, { maxNetworkRetries: 2 });

    const customer = await retrying.customers.create({ name: "Persistent" });

    assert.match(customer.id, /^cus_/);
  });

  test("a 429 fault is a rate limit error and faults can be cleared", async () => {
    await sandbox.control("POST", "/faults", { json: { path: "/v1/prices", status: 429, count: 5 } });

    await assert.rejects(stripe.prices.list(), Stripe.errors.StripeRateLimitError);
    const cleared = await sandbox.control("DELETE", "/faults");
    const listed = await stripe.prices.list({ limit: 1 });

    assert.equal(cleared.body.cleared, 1);
    assert.equal(listed.object, "list");
  });
});

describe("injected faults on Connect", () => {
  test("the token endpoint answers an injected fault once, then exchanges codes again", async () => {
    await sandbox.control("POST", "/faults", { json: { path: "/oauth/token", status: 500 } });

    await assert.rejects(sandbox.connect(stripe), (err) => err instanceof Stripe.errors.StripeAPIError && err.statusCode === 500);
    const { token } = await sandbox.connect(stripe);

    assert.match(token.stripe_user_id, /^acct_/);
  });
});

describe("webhook signatures: Node signs, Rust verifies", () => {
  const secret = "whsec_oracle_secret_1";
  const payload = JSON.stringify({ id: "evt_oracle", object: "event", type: "customer.created" });
  const check = (header, body = payload, headers = {}) =>
    sandbox.stack.call("webhooks", "POST", "/dev/stripe-signature", {
      headers: { "Stripe-Signature": header, "X-Signing-Secret": secret, ...headers },
      body,
    });

  test("a header the official library signs is accepted", async () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });

    const res = await check(header);

    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { valid: true, timestamp });
  });

  test("a tampered body, a wrong secret and an old timestamp are refused", async () => {
    const now = Math.floor(Date.now() / 1000);
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret });
    const old = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: now - 301 });
    const wrong = stripe.webhooks.generateTestHeaderString({ payload, secret: "whsec_someone_else" });

    const cases = [
      [await check(header, payload.replace("customer.created", "customer.deleted")), /No signature matches/],
      [await check(wrong), /No signature matches/],
      [await check(old), /outside the tolerance/],
      [await check("t=abc,v1=00"), /malformed/],
      [await check(`t=${now}`), /no v1 signature/],
    ];
    for (const [res, message] of cases) {
      assert.equal(res.status, 400);
      assert.equal(res.body.code, "invalid_signature");
      assert.match(res.body.error, message);
      assert.equal(res.body.requestId, res.headers.get("x-request-id"));
    }
    assert.throws(() => stripe.webhooks.constructEvent(payload, old, secret), Stripe.errors.StripeSignatureVerificationError, "Node agrees the old one is refused");
  });

  test("several v1 values, rotated secrets and a wider tolerance are accepted", async () => {
    const timestamp = Math.floor(Date.now() / 1000) - 600;
    const signature = (s) => stripe.webhooks.generateTestHeaderString({ payload, secret: s, timestamp }).split(",v1=")[1];
    const several = `t=${timestamp},v1=${signature("whsec_other")},v0=ignored,v1=${signature(secret)}`;

    const res = await check(several, payload, { "X-Tolerance-Seconds": "900" });
    const rotated = await check(stripe.webhooks.generateTestHeaderString({ payload, secret: "whsec_new" }), payload, { "X-Signing-Secret": `whsec_old, whsec_new` });

    assert.equal(res.status, 200);
    assert.equal(res.body.timestamp, timestamp);
    assert.equal(rotated.status, 200);
    assert.doesNotThrow(() => stripe.webhooks.constructEvent(payload, several, secret, 900));
  });
});

/**
 * The same calls against stripe-stateful-mock (in process, on 127.0.0.1) and the sandbox:
 * the top-level keys and the JSON types of their values must agree, apart from the
 * differences listed with each comparison (ids and values never compared).
 */
describe("stripe-stateful-mock agrees on the shapes it shares", () => {
  let server;
  let mock;
  before(async () => {
    log.setLevel("silent");
    server = await new Promise((done) => {
      const s = createExpressApp().listen(0, "127.0.0.1", () => done(s));
    });
    mock = new Stripe("sk_test_stateful_mock_key_1234", { host: "127.0.0.1", port: server.address().port, protocol: "http", maxNetworkRetries: 0 });
  });
  after(() => new Promise((done) => server?.close(done)));

  const typeOf = (value) => (value === null ? "null" : Array.isArray(value) ? "array" : typeof value);

  /** Keys only one side has, and keys whose value types differ. */
  function compare(ours, theirs) {
    const mine = Object.keys(ours);
    const other = Object.keys(theirs);
    return {
      onlySandbox: mine.filter((k) => !other.includes(k)).sort(),
      onlyMock: other.filter((k) => !mine.includes(k)).sort(),
      types: mine.filter((k) => other.includes(k) && typeOf(ours[k]) !== typeOf(theirs[k])).map((k) => `${k}: ${typeOf(ours[k])} vs ${typeOf(theirs[k])}`).sort(),
    };
  }

  test("customers", async () => {
    const params = { email: "same@example.test", name: "Same", metadata: { a: "1" } };

    const diff = compare(await stripe.customers.create(params), await mock.customers.create(params));

    // Intentional: the mock answers an older API version. It still embeds a `tax_ids` list,
    // which current versions include only on request, and lacks the newer
    // `customer_account` and `test_clock`. It also ignores `name` (always null there), hence
    // the one type difference.
    assert.deepEqual(diff, {
      onlySandbox: ["customer_account", "test_clock"],
      onlyMock: ["tax_ids"],
      types: ["name: string vs null"],
    });
  });

  test("products", async () => {
    const params = { name: "Same", description: "d", metadata: { a: "1" } };

    const diff = compare(await stripe.products.create(params), await mock.products.create(params));

    // Intentional: the mock predates `default_price`, `marketing_features`, `tax_code` and
    // `tax_details`, leaves `package_dimensions`, `shippable` and `url` out of service
    // products (current versions answer them as null), and still answers the retired
    // `attributes`.
    assert.deepEqual(diff, {
      onlySandbox: ["default_price", "marketing_features", "package_dimensions", "shippable", "tax_code", "tax_details", "url"],
      onlyMock: ["attributes"],
      types: [],
    });
  });

  test("prices", async () => {
    const ours = await stripe.products.create({ name: "P" });
    const theirs = await mock.products.create({ name: "P" });
    const params = (product) => ({ product, unit_amount: 1900, currency: "usd", recurring: { interval: "month" }, nickname: "n" });

    const mine = await stripe.prices.create(params(ours.id));
    const other = await mock.prices.create(params(theirs.id));

    // Intentional: the mock predates `custom_unit_amount` and `tax_behavior` on prices, and
    // `recurring.meter`, which replaced its `recurring.aggregate_usage`.
    assert.deepEqual(compare(mine, other), { onlySandbox: ["custom_unit_amount", "tax_behavior"], onlyMock: [], types: [] });
    assert.deepEqual(compare(mine.recurring, other.recurring), { onlySandbox: ["meter"], onlyMock: ["aggregate_usage"], types: [] });
  });

  test("idempotent replay and mismatch behave alike", async () => {
    for (const client of [stripe, mock]) {
      const key = unique("both-");
      const first = await client.customers.create({ name: "Once" }, { idempotencyKey: key });
      const again = await client.customers.create({ name: "Once" }, { idempotencyKey: key });
      assert.equal(again.id, first.id);
      assert.equal(again.lastResponse.headers["idempotent-replayed"], "true");
      await assert.rejects(client.customers.create({ name: "Twice" }, { idempotencyKey: key }), (err) => {
        assert.ok(err instanceof Stripe.errors.StripeIdempotencyError);
        assert.equal(err.statusCode, 400);
        return true;
      });
    }
  });

  test("Stripe-Account separates objects and refuses unknown accounts alike", async () => {
    // The mock makes accounts through /v1/accounts; the sandbox through Connect OAuth.
    const mockAccount = (await mock.accounts.create({ type: "custom", country: "US" })).id;
    const { token } = await sandbox.connect(stripe);
    for (const [client, account] of [[stripe, token.stripe_user_id], [mock, mockAccount]]) {
      const theirs = await client.customers.create({ name: "Scoped" }, { stripeAccount: account });
      await assert.rejects(client.customers.retrieve(theirs.id), (err) => {
        assert.ok(err instanceof Stripe.errors.StripeInvalidRequestError);
        assert.equal(err.statusCode, 404);
        assert.equal(err.code, "resource_missing");
        return true;
      });
      assert.equal((await client.customers.retrieve(theirs.id, {}, { stripeAccount: account })).id, theirs.id);
      await assert.rejects(client.customers.list({}, { stripeAccount: "acct_1Unknown" }), (err) => {
        assert.ok(err instanceof Stripe.errors.StripePermissionError);
        assert.equal(err.code, "account_invalid");
        return true;
      });
    }
  });
});

describe("a production-configured stack", () => {
  test("has no test controls and no signature oracle", async () => {
    const production = await sandboxStack({ vars: { ENVIRONMENT: "production" } });
    try {
      const controls = [
        await production.control("POST", "/faults", { json: { path: "/v1/customers", status: 500 } }),
        await production.control("POST", "/checkout/sessions/cs_test_x/complete"),
        await production.control("GET", "/events/evt_x/deliveries"),
      ];
      const oracle = await production.stack.call("webhooks", "POST", "/dev/stripe-signature", { headers: { "Stripe-Signature": "t=1,v1=00", "X-Signing-Secret": "whsec_x" }, body: "{}" });

      for (const res of controls) {
        assert.equal(res.status, 404);
        assert.equal(res.body.code, "not_found");
      }
      assert.equal(oracle.status, 404);
      assert.equal((await production.client().customers.list()).object, "list", "the API itself still answers");
    } finally {
      await production.stop();
    }
  });
});
