// Live checkout status: a client listening on `GET /api/checkout/{sessionId}/events` before
// the buyer pays hears exactly one `complete` and the stream ends; a client that connects
// after the payment hears the final status at once; every listener hears an expiry; another project's session is not found.
// Only the session's owner listens; a session keeps a bounded number of streams, and a quiet
// stream ends after the project's idle timeout.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser, startApp } from "./support/browser.mjs";
import { checkResponse } from "./support/contract.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const OK = "http://127.0.0.1:5173/thanks?session={CHECKOUT_SESSION_ID}";
const NO = "http://127.0.0.1:5173/cart";

let stack;
let dev;
let account;
let shop;
let rival;
let ebook;

const server = (project) => (method, path, { headers = {}, ...rest } = {}) =>
  stack.call("api", method, path, { headers: { Authorization: `Bearer ${project.secretKey}`, ...headers }, ...rest });

/** Opens the event stream of `sessionId`; the response is checked against the contract. */
async function listen(project, sessionId) {
  const path = `/api/checkout/${sessionId}/events`;
  const res = await fetch(`${stack.urls.api}${path}`, { headers: { Authorization: `Bearer ${project.secretKey}` } });
  checkResponse({ worker: "api", method: "GET", path, status: res.status, headers: res.headers, body: undefined, text: "" });
  assert.equal(res.status, 200);
  return res.body.pipeThrough(new TextDecoderStream()).getReader();
}

/** Reads the stream until `done` says enough was read or the stream ends; returns the text. */
async function readUntil(reader, done) {
  let text = "";
  for (;;) {
    const { value, done: ended } = await reader.read();
    if (ended) return { text, ended: true };
    text += value;
    if (done(text)) return { text, ended: false };
  }
}

/** The `status` events in `text`, as their data objects. */
const statuses = (text) =>
  text
    .split("\n\n")
    .filter((block) => block.startsWith("event: status\n"))
    .map((block) => JSON.parse(block.split("\ndata: ")[1]));

async function openCart(project = shop, product = ebook) {
  const cart = await server(project)("POST", "/api/cart/checkout", { body: { items: [{ productId: product.id }], successUrl: OK, cancelUrl: NO } });
  assert.equal(cart.status, 200, cart.text);
  return cart.body.sessionId;
}

async function pay(sessionId) {
  const paid = await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${sessionId}/complete`, { account });
  assert.equal(paid.status, 200, JSON.stringify(paid.body));
}

before(async () => {
  stack = await testStack();
  dev = await signIn(stack, "dev_push");
  ({ connection: { accountId: account } } = await connectStripe(stack, dev, "test"));
  shop = await createProject(dev, { name: "Shop", type: "store" });
  rival = await createProject(dev, { name: "Other shop", type: "store" });
  const created = await stack.call("catalog", "POST", `/v1/projects/${shop.project.id}/products`, {
    headers: { Authorization: `Bearer ${dev.token}` },
    body: { name: "ebook", displayName: "E-book", price: 1500, inventory: 10 },
  });
  assert.equal(created.status, 201, created.text);
  ebook = created.body.data;
});
after(() => stack?.stop());

describe("live checkout status", () => {
  test("a client listening before the payment hears one complete and the stream ends", async () => {
    const sessionId = await openCart();
    const reader = await listen(shop, sessionId);
    const opened = await readUntil(reader, (text) => statuses(text).length >= 1);
    assert.match(opened.text, /^: connected\n\n/);
    assert.deepEqual(statuses(opened.text), [{ sessionId, status: "open" }]);

    await pay(sessionId);
    const rest = await readUntil(reader, () => false);

    assert.equal(rest.ended, true, "the stream ends after the final status");
    assert.deepEqual(statuses(rest.text), [{ sessionId, status: "complete" }]);
  });

  test("a client connecting after the payment hears the final status at once", async () => {
    const sessionId = await openCart();
    await pay(sessionId);

    const all = await readUntil(await listen(shop, sessionId), () => false);

    assert.equal(all.ended, true);
    assert.deepEqual(statuses(all.text), [{ sessionId, status: "complete" }]);
  });

  test("every client listening hears an expiry, once", async () => {
    const sessionId = await openCart();
    const readers = [await listen(shop, sessionId), await listen(shop, sessionId)];
    for (const reader of readers) await readUntil(reader, (text) => statuses(text).length >= 1);

    const expired = await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${sessionId}/expire`, { account });
    assert.equal(expired.status, 200, JSON.stringify(expired.body));

    for (const reader of readers) {
      const rest = await readUntil(reader, () => false);
      assert.equal(rest.ended, true);
      assert.deepEqual(statuses(rest.text), [{ sessionId, status: "expired" }]);
    }
  });

  test("a session keeps at most streamsPerSession streams, and a quiet stream ends after streamIdleSeconds", async () => {
    const quiet = await createProject(dev, { name: "Quiet shop", type: "store" });
    const set = await dev.call("PATCH", `/v1/projects/${quiet.project.id}`, { body: { checkoutLimits: { streamsPerSession: 1, streamIdleSeconds: 1 }, updatedAt: quiet.project.updatedAt } });
    assert.equal(set.status, 200, set.text);
    const made = await stack.call("catalog", "POST", `/v1/projects/${quiet.project.id}/products`, {
      headers: { Authorization: `Bearer ${dev.token}` },
      body: { name: "poster", displayName: "Poster", price: 900, inventory: 5 },
    });
    const sessionId = await openCart(quiet, made.body.data);

    const first = await listen(quiet, sessionId);
    const second = await server(quiet)("GET", `/api/checkout/${sessionId}/events`);
    const started = Date.now();
    const idle = await readUntil(first, () => false);
    const waited = Date.now() - started;
    const again = await listen(quiet, sessionId);
    await again.cancel();

    assert.deepEqual([second.status, second.body.code], [429, "stream_limit_reached"]);
    assert.ok(Number(second.headers.get("retry-after")) > 0);
    assert.equal(idle.ended, true, "the quiet stream ended on its own");
    assert.deepEqual(statuses(idle.text), [{ sessionId, status: "open" }], "with no final status: the session is still open");
    assert.ok(waited < 5000, `ended after ${waited} ms`);
    const row = await (await stack.d1()).prepare("SELECT status FROM checkout_sessions WHERE id = ?1").bind(sessionId).first();
    assert.equal(row.status, "open", "listening changed nothing");
  });

  test("a caller with only the publishable key and the session id may not listen", async () => {
    const sessionId = await openCart();

    const res = await stack.call("api", "GET", `/api/checkout/${sessionId}/events`, { headers: { "X-Publishable-Key": shop.project.publishableKey } });

    assert.deepEqual([res.status, res.body.code], [403, "forbidden"]);
  });

  test("another project's session is not found", async () => {
    const sessionId = await openCart();

    const res = await server(rival)("GET", `/api/checkout/${sessionId}/events`);

    assert.equal(res.status, 404);
    assert.equal(res.body.code, "not_found");
  });
});

describe("a browser's EventSource", () => {
  const tokenFor = async (sessionId, project = shop) => {
    const res = await server(project)("POST", `/api/checkout/${sessionId}/stream-token`);
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  };

  test("opens the stream with the URL a stream token gives, and hears the payment", async () => {
    const sessionId = await openCart();
    const { url, streamToken, expiresAt } = await tokenFor(sessionId);
    const app = await startApp();
    const { browser, close } = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(app.url);
      await page.evaluate((source) => {
        window.heard = [];
        const events = new EventSource(source);
        events.addEventListener("status", (e) => {
          window.heard.push(JSON.parse(e.data).status);
          if (window.heard.includes("complete")) events.close();
        });
      }, `${stack.urls.api}${url}`);
      await page.waitForFunction(() => window.heard.includes("open"));

      await pay(sessionId);

      await page.waitForFunction(() => window.heard.includes("complete"));
      assert.deepEqual(await page.evaluate(() => window.heard), ["open", "complete"]);
    } finally {
      await close();
      await app.close();
    }
    assert.match(streamToken, /^cst_/);
    assert.ok(expiresAt > Date.now() && expiresAt <= Date.now() + 121_000);
    assert.ok(!url.includes(shop.secretKey), "the URL carries no secret key");
  });

  test("a stream token opens only its own session, only with the publishable key, only in time", async () => {
    const sessionId = await openCart();
    const other = await openCart();
    const { streamToken } = await tokenFor(sessionId);
    const pk = shop.project.publishableKey;
    const at = (query, headers = {}) => stack.call("api", "GET", `/api/checkout/${sessionId}/events?${new URLSearchParams(query)}`, { headers });
    const cases = [
      [() => stack.call("api", "GET", `/api/checkout/${other}/events?${new URLSearchParams({ publishableKey: pk, streamToken })}`), 403, "forbidden", "another session"],
      [() => at({ publishableKey: pk, streamToken }, { "X-Tollgate-Dev-Now": String(Date.now() + 200_000) }), 403, "forbidden", "after it expired"],
      [() => at({ streamToken }), 401, "missing_credentials", "without the publishable key"],
      [() => at({ publishableKey: shop.secretKey, streamToken }), 401, "missing_credentials", "with a secret key in the URL"],
      [() => at({ publishableKey: rival.project.publishableKey, streamToken }), 404, "not_found", "another project's key"],
      [() => at({ publishableKey: pk, streamToken: "cst_9999999999.AAAA" }), 403, "forbidden", "a made-up token"],
    ];
    for (const [send, status, code, what] of cases) {
      const res = await send();
      assert.deepEqual([res.status, res.body?.code], [status, code], what);
      assert.ok(!res.text.includes(shop.secretKey), `${what}: no key echoed`);
    }
  });

  test("only the session's owner gets a stream token", async () => {
    const sessionId = await openCart();

    const res = await stack.call("api", "POST", `/api/checkout/${sessionId}/stream-token`, { headers: { "X-Publishable-Key": shop.project.publishableKey } });

    assert.deepEqual([res.status, res.body.code], [403, "forbidden"]);
  });
});
