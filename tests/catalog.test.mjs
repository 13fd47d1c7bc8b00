// The catalog worker: Stripe Connect onboarding against the sandbox, tiers and products
// synced to Stripe products and prices on the connected account, the public catalog that
// results, the catalog's rules, test-to-live promotion, and how Stripe's failures surface.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, consent, startConnect, stripeApi } from "./support/stripe.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("the catalog worker", () => {
  let stack;
  before(async () => {
    stack = await testStack();
  });
  after(() => stack?.stop());

  /** A developer whose calls go to the catalog worker. */
  async function developer(sub) {
    const dev = await signIn(stack, sub);
    return {
      ...dev,
      catalog: (method, path, { headers = {}, ...rest } = {}) =>
        stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}`, ...headers }, ...rest }),
    };
  }

  const tierBody = (overrides = {}) => ({ name: "pro", displayName: "Pro", price: 900, limit: 1000, features: ["Priority support"], ...overrides });

  describe("Connect onboarding", () => {
    test("authorize redirects to Stripe's consent page with a state, and the callback stores the connection", async () => {
      const dev = await developer("dev_connect");

      const { connection, authorizeUrl } = await connectStripe(stack, dev, "test");

      const consentUrl = new URL(authorizeUrl);
      assert.equal(consentUrl.origin, stack.urls["stripe-sandbox"]);
      assert.equal(consentUrl.pathname, "/oauth/authorize");
      assert.equal(consentUrl.searchParams.get("redirect_uri"), `${stack.urls.catalog}/callback`);
      assert.match(consentUrl.searchParams.get("client_id"), /^ca_/);
      assert.equal(connection.mode, "test");
      assert.equal(connection.status, "connected");
      assert.match(connection.accountId, /^acct_/);
      const listed = await dev.catalog("GET", "/v1/stripe/connections");
      assert.deepEqual(listed.body.data.map((c) => [c.mode, c.accountId]), [["test", connection.accountId]]);
    });

    test("the connected account's tokens are stored encrypted, never in the clear", async () => {
      const dev = await developer("dev_sealed");
      const { connection } = await connectStripe(stack, dev, "test");

      const row = await (await stack.d1()).prepare("SELECT access_token_enc, refresh_token_enc FROM stripe_connections WHERE account_id = ?").bind(connection.accountId).first();

      assert.ok(row.access_token_enc.length > 20);
      assert.doesNotMatch(row.access_token_enc, /sk_(test|live)_/);
      assert.doesNotMatch(row.refresh_token_enc ?? "", /rt_/);
    });

    test("a state is single-use: replaying the callback is refused and changes nothing", async () => {
      const dev = await developer("dev_replay");
      const { callbackPath, cookie } = await connectStripe(stack, dev, "test");

      const replay = await stack.call("catalog", "GET", callbackPath, { headers: { Cookie: cookie } });

      assert.equal(replay.status, 400);
      assert.equal(replay.body.code, "invalid_oauth_state");
    });

    test("authorize hands the browser an HttpOnly, Secure, SameSite=Lax cookie whose hash the state carries", async () => {
      const dev = await developer("dev_cookie");

      const { consentUrl, start } = await startConnect(stack, dev, "test");

      const [line, ...more] = start.headers.getSetCookie();
      assert.equal(more.length, 0);
      assert.match(line, /^__Host-tollgate_connect=[0-9A-Za-z]{22}; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      const nonce = line.split(";")[0].split("=")[1];
      const state = new URL(consentUrl).searchParams.get("state");
      assert.equal(state.split(".").length, 4);
      assert.ok(!state.includes(nonce), "the state carries a hash of the nonce, never the nonce");
    });

    test("a browser without the developer's cookie cannot finish their Connect, and the developer's own browser still can", async () => {
      // Developer A starts; the consent link reaches another browser (a victim lured to it).
      const attacker = await developer("dev_lures");
      const { consentUrl, cookie } = await startConnect(stack, attacker, "test");
      const path = (await consent(consentUrl)).slice(stack.urls.catalog.length);
      const other = await startConnect(stack, await developer("dev_victim"), "test");

      const refused = [];
      for (const headers of [{}, { Cookie: other.cookie }, { Cookie: "__Host-tollgate_connect=AAAAAAAAAAAAAAAAAAAAAA" }, { Cookie: cookie.replace("__Host-", "") }]) {
        refused.push(await stack.call("catalog", "GET", path, { headers }));
      }
      const storedAfterRefusals = (await attacker.catalog("GET", "/v1/stripe/connections")).body.total;
      const own = await stack.call("catalog", "GET", path, { headers: { Cookie: cookie } });

      for (const res of refused) {
        assert.equal(res.status, 400);
        assert.equal(res.body.code, "connect_browser_mismatch");
      }
      assert.equal(storedAfterRefusals, 0, "nothing is stored for a refused browser");
      assert.equal(own.status, 200);
      assert.equal(own.body.data.status, "connected");
      assert.match(own.headers.get("set-cookie"), /^__Host-tollgate_connect=; Max-Age=0;/);
      assert.equal((await attacker.catalog("GET", "/v1/stripe/connections")).body.total, 1);
    });

    test("forged, tampered and missing states are refused before anything is stored", async () => {
      const dev = await developer("dev_forged");
      const { consentUrl, cookie } = await startConnect(stack, dev, "test");
      const state = new URL(consentUrl).searchParams.get("state");
      const [nonce, expires, browser, mac] = state.split(".");
      const cases = [
        "",
        "state=",
        "code=ac_x",
        `code=ac_x&state=${nonce}.${Number(expires) + 1}.${browser}.${mac}`,
        `code=ac_x&state=${nonce}.${expires}.${browser}.${mac.slice(1)}A`,
        `code=ac_x&state=${"A".repeat(22)}.${expires}.${browser}.${mac}`,
        `code=ac_x&state=${nonce}.${expires}.${mac}`,
      ];
      for (const query of cases) {
        const res = await stack.call("catalog", "GET", `/callback?${query}`, { headers: { Cookie: cookie } });

        assert.equal(res.status, 400, query);
        assert.equal(res.body.code, "invalid_oauth_state", query);
      }
      const listed = await dev.catalog("GET", "/v1/stripe/connections");
      assert.equal(listed.body.total, 0);
    });

    test("a state expires after ten minutes", async () => {
      const dev = await developer("dev_expired_state");
      const { consentUrl, cookie } = await startConnect(stack, dev, "test");
      const back = await consent(consentUrl);
      const path = back.slice(stack.urls.catalog.length);

      const res = await stack.call("catalog", "GET", path, { headers: { Cookie: cookie, "X-Tollgate-Dev-Now": String(Date.now() + 11 * 60_000) } });

      assert.equal(res.status, 400);
      assert.equal(res.body.code, "invalid_oauth_state");
    });

    test("declining on the consent page is reported and stores nothing", async () => {
      const dev = await developer("dev_declines");
      const { consentUrl, cookie } = await startConnect(stack, dev, "test");
      const back = await consent(consentUrl, "Cancel");

      const res = await stack.call("catalog", "GET", back.slice(stack.urls.catalog.length), { headers: { Cookie: cookie } });

      assert.equal(res.status, 400);
      assert.equal(res.body.code, "connect_declined");
      assert.equal((await dev.catalog("GET", "/v1/stripe/connections")).body.total, 0);
    });

    test("starting a connection needs a recent sign-in and a valid mode", async () => {
      const stale = await signIn(stack, "dev_stale_connect", { authAge: 700 });
      const old = await stack.call("catalog", "GET", "/authorize", { headers: { Authorization: `Bearer ${stale.token}` }, redirect: "manual" });
      const dev = await developer("dev_badmode");
      const bad = await dev.catalog("GET", "/authorize?mode=prod", { redirect: "manual" });

      assert.equal(old.status, 403);
      assert.equal(old.body.code, "reauthentication_required");
      assert.equal(bad.status, 422);
      assert.deepEqual(Object.keys(bad.body.fieldErrors), ["mode"]);
    });

    test("disconnecting revokes access on Stripe and marks the connection deauthorized", async () => {
      const dev = await developer("dev_disconnect");
      const { connection } = await connectStripe(stack, dev, "test");

      const res = await dev.catalog("DELETE", "/v1/stripe/connections/test");
      const onStripe = await stripeApi(stack, "GET", "/v1/products", { account: connection.accountId });
      const again = await dev.catalog("DELETE", "/v1/stripe/connections/test");

      assert.equal(res.status, 200);
      assert.equal(res.body.data.status, "deauthorized");
      assert.equal(onStripe.status, 403, "the platform lost access to the account");
      assert.equal(again.status, 404);
      const audit = await dev.call("GET", "/v1/audit");
      const trail = audit.body.data.filter((e) => e.action.startsWith("stripe.")).map((e) => [e.action, e.actor]);
      // Stripe's own deauthorization webhook confirms the disconnect, under actor `stripe`.
      assert.deepEqual(trail.sort(), [
        ["stripe.connected", "dev_disconnect"],
        ["stripe.deauthorized", "stripe"],
        ["stripe.disconnected", "dev_disconnect"],
      ]);
    });
  });

  describe("tiers", () => {
    let dev;
    let project;
    let account;
    before(async () => {
      dev = await developer("dev_tiers");
      ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
      project = await createProject(dev, { name: "Tiered", type: "saas" });
    });
    const tiersPath = () => `/v1/projects/${project.project.id}/tiers`;

    test("a paid tier is created with a Stripe product and a recurring price on the connected account", async () => {
      const res = await dev.catalog("POST", tiersPath(), { body: tierBody() });

      assert.equal(res.status, 201);
      const tier = res.body.data;
      assert.match(tier.id, /^tier_/);
      assert.equal(tier.isFree, false);
      assert.equal(tier.limit, 1000);
      const price = await stripeApi(stack, "GET", `/v1/prices/${tier.stripePriceId}`, { account });
      assert.equal(price.status, 200);
      assert.equal(price.body.unit_amount, 900);
      assert.equal(price.body.currency, "usd");
      assert.equal(price.body.recurring.interval, "month");
      assert.equal(price.body.product, tier.stripeProductId);
      assert.equal(price.body.metadata.tollgate_tier_id, tier.id);
      const product = await stripeApi(stack, "GET", `/v1/products/${tier.stripeProductId}`, { account });
      assert.equal(product.body.name, "Pro");
      const elsewhere = await stripeApi(stack, "GET", `/v1/prices/${tier.stripePriceId}`);
      assert.equal(elsewhere.status, 404, "the price lives on the connected account, not the platform's");
    });

    test("the free tier has no Stripe price, and a project has exactly one", async () => {
      const free = await dev.catalog("POST", tiersPath(), { body: { name: "free", displayName: "Free", price: 0, limit: 100 } });
      const second = await dev.catalog("POST", tiersPath(), { body: { name: "starter-free", displayName: "Also free", price: 0 } });

      assert.equal(free.status, 201);
      assert.equal(free.body.data.isFree, true);
      assert.equal(free.body.data.stripePriceId, null);
      assert.equal(second.status, 409);
      assert.equal(second.body.code, "free_tier_exists");
    });

    test("the public catalog shows the tiers with their Stripe price ids", async () => {
      const res = await stack.call("api", "GET", "/api/tiers", { headers: { "X-Publishable-Key": project.project.publishableKey } });

      assert.equal(res.status, 200);
      const byName = Object.fromEntries(res.body.tiers.map((t) => [t.name, t]));
      assert.equal(byName.free.price, 0);
      assert.equal(byName.free.isDefault, true);
      assert.match(byName.pro.priceId, /^price_/);
      assert.deepEqual(byName.pro.features, ["Priority support"]);
    });

    test("a price change makes a new Stripe price and archives the old one; other edits keep it", async () => {
      const created = await dev.catalog("POST", tiersPath(), { body: tierBody({ name: "team", displayName: "Team", price: 2900 }) });
      const before = created.body.data;

      const renamed = await dev.catalog("PATCH", `${tiersPath()}/${before.id}`, { body: { displayName: "Team+", limit: "unlimited", updatedAt: before.updatedAt } });
      const repriced = await dev.catalog("PATCH", `${tiersPath()}/${before.id}`, { body: { price: 3900, interval: "year", updatedAt: renamed.body.data.updatedAt } });

      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.data.stripePriceId, before.stripePriceId);
      assert.equal(renamed.body.data.limit, "unlimited");
      assert.equal(repriced.status, 200);
      assert.notEqual(repriced.body.data.stripePriceId, before.stripePriceId);
      const oldPrice = await stripeApi(stack, "GET", `/v1/prices/${before.stripePriceId}`, { account });
      const newPrice = await stripeApi(stack, "GET", `/v1/prices/${repriced.body.data.stripePriceId}`, { account });
      assert.equal(oldPrice.body.active, false);
      assert.equal(newPrice.body.active, true);
      assert.equal(newPrice.body.unit_amount, 3900);
      assert.equal(newPrice.body.recurring.interval, "year");
      const product = await stripeApi(stack, "GET", `/v1/products/${before.stripeProductId}`, { account });
      assert.equal(product.body.name, "Team+");
    });

    test("an edit with a stale updatedAt is refused and changes nothing, on Stripe either", async () => {
      const created = await dev.catalog("POST", tiersPath(), { body: tierBody({ name: "stale", displayName: "Stale" }) });
      const tier = created.body.data;
      await dev.catalog("PATCH", `${tiersPath()}/${tier.id}`, { body: { popular: true, updatedAt: tier.updatedAt } });

      const res = await dev.catalog("PATCH", `${tiersPath()}/${tier.id}`, { body: { price: 100, updatedAt: tier.updatedAt } });

      assert.equal(res.status, 409);
      assert.equal(res.body.code, "stale_update");
      const now = await dev.catalog("GET", `${tiersPath()}/${tier.id}`);
      assert.equal(now.body.data.price, 900);
      assert.equal(now.body.data.stripePriceId, tier.stripePriceId);
    });

    test("bad tier input is refused with the field named and nothing created", async () => {
      const cases = [
        [{ displayName: "X", price: 1 }, 422, "name"],
        [tierBody({ name: "Has Spaces" }), 422, "name"],
        [tierBody({ price: -1 }), 422, "price"],
        [tierBody({ price: 1.5 }), 400, null],
        [tierBody({ interval: "week" }), 422, "interval"],
        [tierBody({ limit: "lots" }), 422, "limit"],
        [tierBody({ currency: "dollars" }), 422, "currency"],
        [tierBody({ trialDays: 1000 }), 422, "trialDays"],
        [tierBody({ priceId: "price_x" }), 400, null],
      ];
      for (const [body, status, field] of cases) {
        const res = await dev.catalog("POST", tiersPath(), { body });

        assert.equal(res.status, status, JSON.stringify(body));
        if (field) assert.ok(res.body.fieldErrors[field], JSON.stringify(body));
      }
      const names = (await dev.catalog("GET", tiersPath())).body.data.map((t) => t.name);
      assert.ok(!names.includes("Has Spaces"));
    });

    test("a taken name, a renamed slug and a free tier turned paid are refused", async () => {
      const dup = await dev.catalog("POST", tiersPath(), { body: tierBody() });
      const free = (await dev.catalog("GET", tiersPath())).body.data.find((t) => t.isFree);
      const pro = (await dev.catalog("GET", tiersPath())).body.data.find((t) => t.name === "pro");
      const priced = await dev.catalog("PATCH", `${tiersPath()}/${free.id}`, { body: { price: 500, updatedAt: free.updatedAt } });
      const slug = await dev.catalog("PATCH", `${tiersPath()}/${pro.id}`, { body: { name: "max", updatedAt: pro.updatedAt } });
      const archiveFree = await dev.catalog("POST", `${tiersPath()}/${free.id}/archive`, { body: { updatedAt: free.updatedAt } });

      assert.equal(dup.status, 409);
      assert.equal(dup.body.code, "duplicate_name");
      assert.equal(priced.status, 409);
      assert.equal(priced.body.code, "free_tier_locked");
      assert.equal(slug.status, 422);
      assert.ok(slug.body.fieldErrors.name);
      assert.equal(archiveFree.status, 409);
      assert.equal(archiveFree.body.code, "free_tier_locked");
    });

    test("concurrent creates of one name make one tier, and every other answer is duplicate_name", async () => {
      // The pre-check lets racers through to the batch; the unique index must refuse them,
      // and its violation must read as the name taken, never as a 500 or a free tier.
      const body = tierBody({ name: "racer", displayName: "Racer" });

      const answers = await Promise.all(Array.from({ length: 12 }, () => dev.catalog("POST", tiersPath(), { body })));

      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [201, ...Array(11).fill(409)], JSON.stringify(answers.map((a) => a.body)));
      for (const refused of answers.filter((a) => a.status === 409)) assert.equal(refused.body.code, "duplicate_name");
      const names = (await dev.catalog("GET", tiersPath())).body.data.filter((t) => t.name === "racer");
      assert.equal(names.length, 1);
    });

    test("archiving a tier stops it selling here and on Stripe", async () => {
      const created = await dev.catalog("POST", tiersPath(), { body: tierBody({ name: "legacy", displayName: "Legacy" }) });
      const tier = created.body.data;

      const res = await dev.catalog("POST", `${tiersPath()}/${tier.id}/archive`, { body: { updatedAt: tier.updatedAt } });
      const again = await dev.catalog("PATCH", `${tiersPath()}/${tier.id}`, { body: { popular: true, updatedAt: res.body.data.updatedAt } });

      assert.equal(res.status, 200);
      assert.ok(res.body.data.archivedAt);
      assert.equal(again.status, 409);
      assert.equal(again.body.code, "archived");
      const price = await stripeApi(stack, "GET", `/v1/prices/${tier.stripePriceId}`, { account });
      const product = await stripeApi(stack, "GET", `/v1/products/${tier.stripeProductId}`, { account });
      assert.equal(price.body.active, false);
      assert.equal(product.body.active, false);
      await sleep(10_100); // the api worker's catalog cache (10 s)
      const pub = await stack.call("api", "GET", "/api/tiers", { headers: { "X-Publishable-Key": project.project.publishableKey } });
      assert.ok(!pub.body.tiers.some((t) => t.name === "legacy"));
    });

    test("a create retried with the same Idempotency-Key makes one tier and one Stripe product", async () => {
      const headers = { "Idempotency-Key": "create-enterprise-1" };
      const first = await dev.catalog("POST", tiersPath(), { headers, body: tierBody({ name: "enterprise", displayName: "Enterprise" }) });
      const second = await dev.catalog("POST", tiersPath(), { headers, body: tierBody({ name: "enterprise", displayName: "Enterprise" }) });

      assert.equal(first.status, 201);
      assert.equal(second.status, 201);
      assert.equal(second.headers.get("idempotent-replayed"), "true");
      assert.equal(second.body.data.id, first.body.data.id);
      const products = await stripeApi(stack, "GET", "/v1/products?limit=100", { account });
      assert.equal(products.body.data.filter((p) => p.name === "Enterprise").length, 1);
    });

    test("every catalog write is in the audit trail, with no secret in it", async () => {
      const res = await dev.call("GET", `/v1/projects/${project.project.id}/audit?pageSize=100`);

      const actions = new Set(res.body.data.map((e) => e.action));
      for (const action of ["tier.created", "tier.updated", "tier.archived"]) assert.ok(actions.has(action), action);
      assert.doesNotMatch(JSON.stringify(res.body), /sk_(test|live)_|whsec_|rt_/);
    });
  });

  describe("products and project types", () => {
    test("a Store project sells products with inventory; tiers there are refused, as products on SaaS", async () => {
      const dev = await developer("dev_store");
      const { connection } = await connectStripe(stack, dev, "test");
      const store = await createProject(dev, { name: "Shop", type: "store" });
      const saas = await createProject(dev, { name: "App", type: "saas" });

      const made = await dev.catalog("POST", `/v1/projects/${store.project.id}/products`, {
        body: { name: "ebook", displayName: "The e-book", price: 1500, inventory: 10, description: "PDF" },
      });
      const tierOnStore = await dev.catalog("POST", `/v1/projects/${store.project.id}/tiers`, { body: tierBody() });
      const productOnSaas = await dev.catalog("POST", `/v1/projects/${saas.project.id}/products`, { body: { name: "x", displayName: "X", price: 1 } });

      assert.equal(made.status, 201);
      assert.equal(made.body.data.inventory, 10);
      assert.equal(made.body.data.soldOut, false);
      const price = await stripeApi(stack, "GET", `/v1/prices/${made.body.data.stripePriceId}`, { account: connection.accountId });
      assert.equal(price.body.unit_amount, 1500);
      assert.equal(price.body.recurring, null);
      assert.equal(tierOnStore.status, 409);
      assert.equal(tierOnStore.body.code, "wrong_project_type");
      assert.equal(productOnSaas.status, 409);
      assert.equal(productOnSaas.body.code, "wrong_project_type");
      const pub = await stack.call("api", "GET", "/api/products", { headers: { "X-Publishable-Key": store.project.publishableKey } });
      assert.deepEqual(pub.body.products.map((p) => [p.name, p.price, p.inventory, p.soldOut]), [["ebook", 1500, 10, false]]);

      const soldOut = await dev.catalog("PATCH", `/v1/projects/${store.project.id}/products/${made.body.data.id}`, {
        body: { inventory: 0, updatedAt: made.body.data.updatedAt },
      });
      assert.equal(soldOut.body.data.soldOut, true);
      assert.equal(soldOut.body.data.stripePriceId, made.body.data.stripePriceId, "stock is not a Stripe matter");
    });

    test("a paid tier needs a Stripe connection for the project's mode", async () => {
      const dev = await developer("dev_unconnected");
      const project = await createProject(dev, { type: "saas" });

      const paid = await dev.catalog("POST", `/v1/projects/${project.project.id}/tiers`, { body: tierBody() });
      const free = await dev.catalog("POST", `/v1/projects/${project.project.id}/tiers`, { body: { name: "free", displayName: "Free", price: 0 } });

      assert.equal(paid.status, 428);
      assert.equal(paid.body.code, "stripe_connection_required");
      assert.equal(free.status, 201);
    });

    test("another developer's project and tiers answer 404", async () => {
      const owner = await developer("dev_owner");
      await connectStripe(stack, owner, "test");
      const project = await createProject(owner, { type: "saas" });
      const tier = (await owner.catalog("POST", `/v1/projects/${project.project.id}/tiers`, { body: tierBody() })).body.data;
      const intruder = await developer("dev_intruder");

      const cases = [
        ["GET", `/v1/projects/${project.project.id}/tiers`],
        ["POST", `/v1/projects/${project.project.id}/tiers`, tierBody({ name: "mine" })],
        ["GET", `/v1/projects/${project.project.id}/tiers/${tier.id}`],
        ["PATCH", `/v1/projects/${project.project.id}/tiers/${tier.id}`, { price: 1, updatedAt: tier.updatedAt }],
        ["POST", `/v1/projects/${project.project.id}/tiers/${tier.id}/archive`, { updatedAt: tier.updatedAt }],
        ["POST", `/v1/projects/${project.project.id}/promote`],
      ];
      for (const [method, path, body] of cases) {
        const res = await intruder.catalog(method, path, { body });
        assert.equal(res.status, 404, `${method} ${path}`);
      }
      const still = await owner.catalog("GET", `/v1/projects/${project.project.id}/tiers/${tier.id}`);
      assert.equal(still.body.data.price, 900);
    });
  });

  describe("promotion to live", () => {
    test("needs a live Stripe connection", async () => {
      const dev = await developer("dev_no_live");
      await connectStripe(stack, dev, "test");
      const project = await createProject(dev, { type: "saas" });

      const res = await dev.catalog("POST", `/v1/projects/${project.project.id}/promote`);

      assert.equal(res.status, 428);
      assert.equal(res.body.code, "live_connection_required");
    });

    test("makes a live twin with new keys and the same catalog on the live account, once", async () => {
      const dev = await developer("dev_promote");
      const { connection: testConnection } = await connectStripe(stack, dev, "test");
      const { connection: liveConnection } = await connectStripe(stack, dev, "live");
      const test = await createProject(dev, { name: "Launch", type: "saas" });
      const tiers = `/v1/projects/${test.project.id}/tiers`;
      await dev.catalog("POST", tiers, { body: { name: "free", displayName: "Free", price: 0, limit: 10 } });
      const pro = (await dev.catalog("POST", tiers, { body: tierBody() })).body.data;
      const headers = { "Idempotency-Key": "promote-launch" };

      const res = await dev.catalog("POST", `/v1/projects/${test.project.id}/promote`, { headers });
      const replay = await dev.catalog("POST", `/v1/projects/${test.project.id}/promote`, { headers });
      const second = await dev.catalog("POST", `/v1/projects/${test.project.id}/promote`);

      assert.equal(res.status, 201);
      const live = res.body.data;
      assert.equal(live.project.mode, "live");
      assert.equal(live.project.promotedFrom, test.project.id);
      assert.match(live.secretKey, /^sk_live_/);
      assert.match(live.project.publishableKey, /^pk_live_/);
      assert.deepEqual([live.tiers, live.products], [2, 0]);
      assert.equal(replay.status, 201);
      assert.equal(replay.body.data.secretKey, live.secretKey);
      assert.equal(second.status, 409);
      assert.equal(second.body.code, "already_promoted");

      const liveTiers = (await dev.catalog("GET", `/v1/projects/${live.project.id}/tiers`)).body.data;
      const livePro = liveTiers.find((t) => t.name === "pro");
      assert.deepEqual(liveTiers.map((t) => t.name).sort(), ["free", "pro"]);
      assert.notEqual(livePro.stripePriceId, pro.stripePriceId);
      const onLive = await stripeApi(stack, "GET", `/v1/prices/${livePro.stripePriceId}`, { mode: "live", account: liveConnection.accountId });
      assert.equal(onLive.status, 200);
      assert.equal(onLive.body.unit_amount, 900);
      assert.equal(onLive.body.livemode, true);
      const testTiers = (await dev.catalog("GET", tiers)).body.data;
      assert.equal(testTiers.find((t) => t.name === "pro").stripePriceId, pro.stripePriceId, "the test project is untouched");
      assert.notEqual(testConnection.accountId, undefined);
      const promoteLive = await dev.catalog("POST", `/v1/projects/${live.project.id}/promote`);
      assert.equal(promoteLive.status, 409);
      assert.equal(promoteLive.body.code, "not_a_test_project");
    });

    test("a promotion that fails half-way leaves no live project, and its retry completes it", async () => {
      const dev = await developer("dev_halfway");
      await connectStripe(stack, dev, "test");
      await connectStripe(stack, dev, "live");
      const test = await createProject(dev, { name: "Flaky", type: "saas" });
      const tiers = `/v1/projects/${test.project.id}/tiers`;
      await dev.catalog("POST", tiers, { body: tierBody({ name: "a", displayName: "A" }) });
      await dev.catalog("POST", tiers, { body: tierBody({ name: "b", displayName: "B" }) });
      // Stripe creates the first product, then fails every attempt at its price.
      const fault = await stripeApi(stack, "POST", "/_sandbox/faults", { form: { path: "/v1/prices", method: "POST", status: "500", count: "3" } });
      assert.equal(fault.status, 200, JSON.stringify(fault.body));

      const failed = await dev.catalog("POST", `/v1/projects/${test.project.id}/promote`);
      const projects = (await dev.call("GET", "/v1/projects?pageSize=100")).body.data;
      const retried = await dev.catalog("POST", `/v1/projects/${test.project.id}/promote`);

      assert.equal(failed.status, 502);
      assert.equal(failed.body.code, "payment_provider_unavailable");
      assert.ok(!projects.some((p) => p.promotedFrom === test.project.id), "nothing half-made is visible");
      assert.equal(retried.status, 201);
      assert.equal(retried.body.data.tiers, 2);
    });
  });

  describe("with a console configured", () => {
    test("the callback sends the developer back to the console with the outcome", async () => {
      const consoleUrl = "http://127.0.0.1:5173/settings/stripe";
      const own = await testStack({ vars: { CONSOLE_URL: consoleUrl } });
      try {
        const dev = await signIn(own, "dev_console");
        const { consentUrl, cookie } = await startConnect(own, dev, "test");
        const path = (await consent(consentUrl)).slice(own.urls.catalog.length);

        const done = await own.call("catalog", "GET", path, { redirect: "manual", headers: { Cookie: cookie } });
        const replay = await own.call("catalog", "GET", path, { redirect: "manual", headers: { Cookie: cookie } });

        assert.equal(done.status, 303);
        assert.equal(done.headers.get("location"), `${consoleUrl}?stripe=connected&mode=test`);
        assert.equal(replay.status, 303);
        assert.equal(replay.headers.get("location"), `${consoleUrl}?stripe=error&code=invalid_oauth_state`);
      } finally {
        await own.stop();
      }
    });
  });

  describe("Stripe failures", () => {
    test("a short Stripe outage is retried with the same idempotency key and the write succeeds once", async () => {
      const dev = await developer("dev_outage");
      const { connection } = await connectStripe(stack, dev, "test");
      const project = await createProject(dev, { type: "saas" });
      await stripeApi(stack, "POST", "/_sandbox/faults", { form: { path: "/v1/prices", method: "POST", status: "503", count: "1" } });

      const res = await dev.catalog("POST", `/v1/projects/${project.project.id}/tiers`, { body: tierBody() });

      assert.equal(res.status, 201);
      const prices = await stripeApi(stack, "GET", `/v1/prices?product=${res.body.data.stripeProductId}`, { account: connection.accountId });
      assert.equal(prices.body.data.length, 1);
    });

    test("wrong platform credentials answer 502 payment_provider_misconfigured with nothing leaked", async () => {
      const broken = await testStack({ vars: { STRIPE_SECRET_KEY_TEST: "sk_test_tooshort" } });
      try {
        const dev = await signIn(broken, "dev_misconfigured");
        const { consentUrl, cookie } = await startConnect(broken, dev, "test");
        const back = await consent(consentUrl);

        const res = await broken.call("catalog", "GET", back.slice(broken.urls.catalog.length), { headers: { Cookie: cookie } });

        assert.equal(res.status, 502);
        assert.equal(res.body.code, "payment_provider_misconfigured");
        assert.doesNotMatch(res.text, /sk_test_|tooshort|Invalid API Key/);
        await broken.waitForLog("payment_provider");
        assert.ok(!broken.logs.some((l) => l.message.includes("sk_test_tooshort")), "the key never reaches the log");
      } finally {
        await broken.stop();
      }
    });
  });
});
