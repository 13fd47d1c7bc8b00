// Entitlements and protected downloads: a buyer who paid through the Stripe sandbox downloads
// the product's private file (whole and by range) until the entitlement is revoked; a
// subscriber downloads the tier's file while the subscription is active and not after it is
// canceled; expired, altered and foreign tokens and other projects' files are refused, each
// with its own code; and the catalog attaches only private files of the same project.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { devSecrets } from "../scripts/stack.mjs";
import { checkResponse } from "./support/contract.mjs";
import { createProject, signIn, uploadAsset } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks?session={CHECKOUT_SESSION_ID}";
const NO = "http://127.0.0.1:5173/cart";
const GUIDE = Buffer.from(Array.from({ length: 3000 }, (_, i) => `%PDF-guide line ${i}\n`).join("").slice(0, 4096));
GUIDE.write("%PDF-1.7", 0);
const COURSE = Buffer.concat([Buffer.from("PK\x03\x04", "latin1"), Buffer.alloc(2048, 7)]);
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");

let stack;
let dev;
let account;
let shop;
let saas;
let rival;
let guide;
let course;
let ebook;
let pro;
let counter = 0;

const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
const server = (project) => (method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { Authorization: `Bearer ${project.secretKey}`, ...headers }, ...rest });

/** Uploads a file with the secret key; returns the asset. */
const uploadAs = (project, bytes, query) => uploadAsset(stack, project, bytes, query);

async function endUser(project) {
  const res = await server(project)("POST", "/api/customers", { body: { email: `buyer${++counter}@example.test`, externalId: `buyer-${counter}` } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

/** `POST /api/downloads` for `user` with the secret key. */
const ask = (project, user, body) => server(project)("POST", "/api/downloads", { headers: { "X-User-Id": user.id }, body });

/** Fetches a download URL raw (the body is the file); error answers are checked against the contract. */
async function get(url, headers = {}) {
  const res = await fetch(url, { headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status >= 400) {
    const text = bytes.toString();
    const body = JSON.parse(text);
    checkResponse({ worker: "api", method: "GET", path: new URL(url).pathname, status: res.status, headers: res.headers, body, text });
    return { status: res.status, headers: res.headers, body };
  }
  return { status: res.status, headers: res.headers, bytes };
}

/** Pays for `product` through the sandbox as `user`: a cart checkout, then the session completed. */
async function buy(user, product) {
  const cart = await server(shop)("POST", "/api/cart/checkout", { headers: { "X-User-Id": user.id }, body: { items: [{ productId: product.id }], successUrl: OK, cancelUrl: NO } });
  assert.equal(cart.status, 200, cart.text);
  const paid = await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${cart.body.sessionId}/complete`, { account });
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
  const row = await (await stack.d1()).prepare("SELECT id FROM entitlements WHERE order_id = ?1").bind(cart.body.orderId).first();
  assert.ok(row, "the paid order granted an entitlement");
  return row.id;
}

/** Subscribes `user` to the pro tier through the sandbox; returns the subscription row. */
async function subscribe(user) {
  const started = await server(saas)("POST", "/api/create-checkout", { headers: { "X-User-Id": user.id }, body: { tier: "pro", successUrl: OK, cancelUrl: NO } });
  assert.equal(started.status, 200, started.text);
  await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${started.body.sessionId}/complete`, { account });
  const row = await (await stack.d1()).prepare("SELECT id, stripe_subscription_id, status FROM subscriptions WHERE end_user_id = ?1").bind(user.id).first();
  assert.equal(row?.status, "active");
  return row;
}

before(async () => {
  stack = await testStack();
  dev = await signIn(stack, "dev_downloads");
  ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
  shop = await createProject(dev, { name: "Shop", type: "store" });
  saas = await createProject(dev, { name: "App", type: "saas" });
  rival = await createProject(dev, { name: "Other shop", type: "store" });
  guide = await uploadAs(shop, GUIDE, { filename: "Guide – édition 2.pdf", visibility: "private" });
  course = await uploadAs(saas, COURSE, { filename: "course.zip", visibility: "private" });
  const created = await catalog("POST", `/v1/projects/${shop.project.id}/products`, { name: "guide", displayName: "The guide", price: 1500, assetId: guide.id });
  assert.equal(created.status, 201, created.text);
  ebook = created.body.data;
  await catalog("POST", `/v1/projects/${saas.project.id}/tiers`, { name: "free", displayName: "Free", price: 0, limit: 5 });
  const tier = await catalog("POST", `/v1/projects/${saas.project.id}/tiers`, { name: "pro", displayName: "Pro", price: 900, limit: 100, assetId: course.id });
  assert.equal(tier.status, 201, tier.text);
  pro = tier.body.data;
});
after(() => stack?.stop());

describe("a buyer's download", () => {
  let buyer;
  let entitlement;
  let url;

  test("before paying there is nothing to download", async () => {
    buyer = await endUser(shop);

    const res = await ask(shop, buyer, { productId: ebook.id });

    assert.equal(res.status, 403);
    assert.equal(res.body.code, "entitlement_required");
  });

  test("after paying, the entitlement is listed and a five-minute URL downloads the whole file as an attachment", async () => {
    entitlement = await buy(buyer, ebook);

    const listed = await server(shop)("GET", "/api/entitlements", { headers: { "X-User-Id": buyer.id } });
    const issued = await ask(shop, buyer, { productId: ebook.id });
    url = issued.body.data.url;
    const file = await get(url);

    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.data.map((e) => [e.id, e.type, e.status, e.productId, e.assetId, e.customerId]),
      [[entitlement, "order", "active", ebook.id, guide.id, buyer.id]],
    );
    assert.equal(issued.status, 200, issued.text);
    assert.ok(url.startsWith(`${stack.urls.api}/api/downloads/dlt_`));
    const lifetime = issued.body.data.expiresAt - Date.now();
    assert.ok(lifetime > 280_000 && lifetime <= 300_000, `${lifetime} ms`);
    assert.deepEqual([issued.body.data.filename, issued.body.data.size], ["Guide – édition 2.pdf", GUIDE.length]);
    assert.equal(file.status, 200);
    assert.deepEqual(file.bytes, GUIDE);
    assert.equal(file.headers.get("content-type"), "application/pdf");
    assert.equal(file.headers.get("content-disposition"), `attachment; filename="Guide _ _dition 2.pdf"; filename*=UTF-8''Guide%20%E2%80%93%20%C3%A9dition%202.pdf`);
    assert.equal(file.headers.get("cache-control"), "private, no-store");
    assert.equal(file.headers.get("x-content-type-options"), "nosniff");
    assert.equal(file.headers.get("accept-ranges"), "bytes");
    assert.equal(file.headers.get("content-length"), String(GUIDE.length));
  });

  test("byte ranges answer 206 with Content-Range, and a range past the end 416", async () => {
    const first = await get(url, { Range: "bytes=0-9" });
    const tail = await get(url, { Range: "bytes=-5" });
    const middle = await get(url, { Range: `bytes=100-` });
    const past = await get(url, { Range: `bytes=${GUIDE.length}-` });
    const several = await get(url, { Range: "bytes=0-1,5-6" });

    assert.equal(first.status, 206);
    assert.deepEqual(first.bytes, GUIDE.subarray(0, 10));
    assert.equal(first.headers.get("content-range"), `bytes 0-9/${GUIDE.length}`);
    assert.deepEqual(tail.bytes, GUIDE.subarray(GUIDE.length - 5));
    assert.equal(tail.headers.get("content-range"), `bytes ${GUIDE.length - 5}-${GUIDE.length - 1}/${GUIDE.length}`);
    assert.deepEqual(middle.bytes, GUIDE.subarray(100));
    assert.equal(past.status, 416);
    assert.equal(past.body.code, "range_not_satisfiable");
    assert.equal(past.headers.get("content-range"), `bytes */${GUIDE.length}`);
    assert.equal(several.status, 200);
    assert.equal(several.bytes.length, GUIDE.length);
  });

  test("the end user's own browser asks with the publishable key and a token, by product or by asset", async () => {
    const minted = await server(shop)("POST", "/api/customer-token", { body: { userId: buyer.externalId } });
    const browser = (body) =>
      stack.call("api", "POST", "/api/downloads", { headers: { "X-Publishable-Key": shop.project.publishableKey, "X-End-User-Token": minted.body.data.token }, body });

    const byProduct = await browser({ productId: ebook.id });
    const byAsset = await browser({ assetId: guide.id });

    assert.equal(byProduct.status, 200, byProduct.text);
    assert.equal(byAsset.status, 200, byAsset.text);
    assert.deepEqual((await get(byAsset.body.data.url)).bytes, GUIDE);
  });

  test("another end user of the project, who never paid, is refused", async () => {
    const stranger = await endUser(shop);

    const res = await ask(shop, stranger, { productId: ebook.id });
    const byAsset = await ask(shop, stranger, { assetId: guide.id });

    assert.deepEqual([res.status, res.body.code], [403, "entitlement_required"]);
    assert.deepEqual([byAsset.status, byAsset.body.code], [403, "entitlement_required"]);
  });

  test("revoking the entitlement stops the link already issued and every new one, and is audited and reported once", async () => {
    const hook = await stack.call("webhooks", "POST", `/v1/projects/${shop.project.id}/webhook-endpoints`, {
      headers: { Authorization: `Bearer ${dev.token}` },
      body: { url: "http://127.0.0.1:9/hooks", events: ["entitlement.changed"] },
    });
    assert.equal(hook.status, 201, hook.text);

    const revoked = await server(shop)("POST", `/api/entitlements/${entitlement}/revoke`);
    const old = await get(url);
    const fresh = await ask(shop, buyer, { productId: ebook.id });
    const again = await server(shop)("POST", `/api/entitlements/${entitlement}/revoke`);
    const listed = await server(shop)("GET", "/api/entitlements", { headers: { "X-User-Id": buyer.id } });

    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual([revoked.body.data.status, typeof revoked.body.data.revokedAt], ["revoked", "number"]);
    assert.deepEqual([old.status, old.body.code], [403, "entitlement_required"]);
    assert.deepEqual([fresh.status, fresh.body.code], [403, "entitlement_required"]);
    assert.deepEqual([again.status, again.body.code], [409, "already_revoked"]);
    assert.deepEqual(listed.body.data, []);
    const audit = await (await stack.d1()).prepare("SELECT actor, action FROM audit_events WHERE target_id = ?1").bind(entitlement).all();
    assert.equal(audit.results.length, 1);
    assert.equal(audit.results[0].action, "entitlement.revoked");
    assert.match(audit.results[0].actor, /^key_/);
    const reported = await (await stack.d1())
      .prepare("SELECT payload FROM webhook_deliveries WHERE endpoint_id = ?1 AND event_type = 'entitlement.changed'")
      .bind(hook.body.data.id)
      .all();
    assert.equal(reported.results.length, 1);
    const event = JSON.parse(reported.results[0].payload);
    assert.deepEqual(
      [event.data.change, event.data.source, event.data.entitlementId, event.data.endUserId],
      ["revoked", "order", entitlement, buyer.id],
    );
  });

  test("revoke takes the secret key and an order entitlement of this project", async () => {
    const stranger = await endUser(shop);
    const token = (await server(shop)("POST", "/api/customer-token", { body: { userId: stranger.id } })).body.data.token;

    const byBrowser = await stack.call("api", "POST", `/api/entitlements/${entitlement}/revoke`, { headers: { "X-Publishable-Key": shop.project.publishableKey, "X-End-User-Token": token } });
    const byOtherProject = await server(rival)("POST", `/api/entitlements/${entitlement}/revoke`);
    const subscription = await server(shop)("POST", "/api/entitlements/subr_0000000000000000000000/revoke");

    assert.equal(byBrowser.status, 403);
    assert.equal(byOtherProject.status, 404);
    assert.deepEqual([subscription.status, subscription.body.code], [409, "not_revocable"]);
  });
});

describe("a subscriber's download", () => {
  test("works while the subscription is active and stops when it is canceled", async () => {
    const user = await endUser(saas);
    const before = await ask(saas, user, { tierId: pro.id });
    const subscription = await subscribe(user);

    const listed = await server(saas)("GET", "/api/entitlements", { headers: { "X-User-Id": user.id } });
    const issued = await ask(saas, user, { tierId: pro.id });
    const file = await get(issued.body.data.url);
    const canceled = await stripeApi(stack, "DELETE", `/v1/subscriptions/${subscription.stripe_subscription_id}`, { account });
    const status = await (await stack.d1()).prepare("SELECT status FROM subscriptions WHERE id = ?1").bind(subscription.id).first();
    const old = await get(issued.body.data.url);
    const fresh = await ask(saas, user, { tierId: pro.id });
    const after = await server(saas)("GET", "/api/entitlements", { headers: { "X-User-Id": user.id } });

    assert.deepEqual([before.status, before.body.code], [403, "entitlement_required"]);
    assert.deepEqual(
      listed.body.data.map((e) => [e.id, e.type, e.status, e.tierId, e.assetId]),
      [[subscription.id, "subscription", "active", pro.id, course.id]],
    );
    assert.equal(typeof listed.body.data[0].currentPeriodEnd, "number");
    assert.equal(issued.status, 200, issued.text);
    assert.deepEqual(file.bytes, COURSE);
    assert.equal(file.headers.get("content-type"), "application/zip");
    assert.equal(canceled.status, 200, JSON.stringify(canceled.body));
    assert.equal(status.status, "canceled");
    assert.deepEqual([old.status, old.body.code], [403, "entitlement_required"]);
    assert.deepEqual([fresh.status, fresh.body.code], [403, "entitlement_required"]);
    assert.deepEqual(after.body.data, []);
  });
});

describe("tokens", () => {
  let buyer;
  let entitlement;
  let url;
  before(async () => {
    buyer = await endUser(shop);
    entitlement = await buy(buyer, ebook);
    url = (await ask(shop, buyer, { productId: ebook.id })).body.data.url;
  });

  const token = () => url.split("/api/downloads/")[1];
  /** A token signed as the server would (the dev stack's secret), with any claims. */
  const sign = (claims, key = devSecrets(stack.dir).DOWNLOAD_SIGNING_KEY) => {
    const payload = Buffer.from([claims.p, claims.u, claims.n, claims.a, claims.e].join(":")).toString("base64url");
    const mac = createHmac("sha256", key).update("tollgate download token v1\0").update(payload).digest("base64url");
    return `dlt_${payload}.${mac}`;
  };
  const claims = (extra = {}) => ({ p: shop.project.id, u: buyer.id, n: entitlement, a: guide.id, e: Math.floor(Date.now() / 1000) + 60, ...extra });
  const open = (t, headers) => get(`${stack.urls.api}/api/downloads/${t}`, headers);

  test("a token works until its five minutes are over, then answers 410", async () => {
    const later = String(Date.now() + 301_000);

    const now = await open(token());
    const expired = await open(token(), { "X-Tollgate-Dev-Now": later });
    const signedPast = await open(sign(claims({ e: Math.floor(Date.now() / 1000) - 1 })));

    assert.equal(now.status, 200);
    assert.deepEqual([expired.status, expired.body.code], [410, "download_token_expired"]);
    assert.deepEqual([signedPast.status, signedPast.body.code], [410, "download_token_expired"]);
  });

  test("an altered, foreign or malformed token answers 401 download_token_invalid", async () => {
    const [payload, mac] = token().slice(4).split(".");
    const [p, , n, a, e] = Buffer.from(payload, "base64url").toString().split(":");
    const otherUser = [p, "cus_someone_else", n, a, e].join(":");
    const flipped = `${mac.slice(0, -2)}${mac.at(-2) === "A" ? "B" : "A"}${mac.at(-1)}`;

    const cases = [
      `dlt_${Buffer.from(otherUser).toString("base64url")}.${mac}`,
      `dlt_${payload}.${flipped}`,
      sign(claims(), "not-the-server-key-but-32-bytes-long!!"),
      "dlt_",
      "eut_abc.def",
      "nothing-like-a-token",
    ];
    for (const bad of cases) {
      const res = await open(bad);
      assert.deepEqual([res.status, res.body.code], [401, "download_token_invalid"], bad.slice(0, 40));
    }
  });

  test("another project's file is refused: by id at issue, and inside a token bound to this project", async () => {
    const theirs = await uploadAs(rival, GUIDE, { filename: "theirs.pdf", visibility: "private" });

    const byId = await ask(shop, buyer, { assetId: theirs.id });
    const bound = await open(sign(claims({ a: theirs.id })));
    const otherProject = await open(sign(claims({ p: rival.project.id })));

    assert.deepEqual([byId.status, byId.body.code], [404, "not_found"]);
    assert.deepEqual([bound.status, bound.body.code], [404, "not_found"]);
    assert.deepEqual([otherProject.status, otherProject.body.code], [403, "entitlement_required"]);
  });

  test("a product without a file, an unknown target and a malformed request are told apart", async () => {
    const plain = await catalog("POST", `/v1/projects/${shop.project.id}/products`, { name: "sticker", displayName: "Sticker", price: 300 });

    const noFile = await ask(shop, buyer, { productId: plain.body.data.id });
    const unknown = await ask(shop, buyer, { productId: "prd_0000000000000000000000" });
    const two = await ask(shop, buyer, { productId: ebook.id, assetId: guide.id });
    const unknownUser = await server(shop)("POST", "/api/downloads", { headers: { "X-User-Id": "nobody" }, body: { productId: ebook.id } });

    assert.deepEqual([noFile.status, noFile.body.code], [404, "no_download"]);
    assert.deepEqual([unknown.status, unknown.body.code], [404, "not_found"]);
    assert.deepEqual([two.status, two.body.code], [422, "validation_failed"]);
    assert.deepEqual([unknownUser.status, unknownUser.body.code], [404, "unknown_end_user"]);
  });

  test("no download token ever reaches the logs", async () => {
    await open(token(), { Range: "bytes=0-0" });
    await open(`${token()}x`);

    assert.deepEqual(stack.logsMentioning("dlt_"), []);
  });
});

describe("attaching files in the catalog", () => {
  test("a product or tier takes only a private asset of its own project; null detaches it", async () => {
    const image = await uploadAs(shop, PNG, { filename: "cover.png", visibility: "public" });
    const theirs = await uploadAs(rival, GUIDE, { filename: "theirs.pdf", visibility: "private" });
    const path = `/v1/projects/${shop.project.id}/products`;

    for (const assetId of [image.id, theirs.id, "ast_0000000000000000000000", "prd_x"]) {
      const res = await catalog("POST", path, { name: `bad-${++counter}`, displayName: "Bad", price: 100, assetId });
      assert.equal(res.status, 422, `${assetId}: ${res.text}`);
      assert.ok(res.body.fieldErrors.assetId);
    }
    const tier = await catalog("PATCH", `/v1/projects/${saas.project.id}/tiers/${pro.id}`, { assetId: guide.id, updatedAt: pro.updatedAt });
    assert.equal(tier.status, 422, "a tier cannot deliver another project's file");
  });

  test("an asset a product delivers cannot be deleted until it is detached", async () => {
    const file = await uploadAs(shop, GUIDE, { filename: "extra.pdf", visibility: "private" });
    const product = (await catalog("POST", `/v1/projects/${shop.project.id}/products`, { name: `extra-${++counter}`, displayName: "Extra", price: 700, assetId: file.id })).body.data;

    const blocked = await server(shop)("DELETE", `/api/assets/${file.id}`);
    const detached = await catalog("PATCH", `/v1/projects/${shop.project.id}/products/${product.id}`, { assetId: null, updatedAt: product.updatedAt });
    const deleted = await server(shop)("DELETE", `/api/assets/${file.id}`);

    assert.deepEqual([blocked.status, blocked.body.code], [409, "asset_in_use"]);
    assert.equal(product.assetId, file.id);
    assert.equal(detached.status, 200, detached.text);
    assert.equal(detached.body.data.assetId, null);
    assert.equal(deleted.status, 200);
  });
});
