// The browser client against a fake fetch: the publishable key and the end user's token on
// every call, the token asked again before it expires and after a refusal, and following a
// checkout over its event stream.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TollgateBrowser, UsageLimitError } from "../dist/browser-entry.js";
import { parseEvents } from "../dist/index.js";
import { fakeFetch, json, tracked, usage } from "./fake-fetch.mjs";

const BASE = "http://tollgate.test";
const PK = "pk_test_abc";

function browser(steps, grants, options = {}) {
  const fake = fakeFetch(steps);
  let asked = 0;
  const client = new TollgateBrowser({
    publishableKey: PK,
    baseUrl: BASE,
    fetch: fake.fetch,
    getEndUserToken: async () => grants[asked++] ?? grants.at(-1),
    ...options,
  });
  client.transport.random = () => 0;
  return { client, calls: fake.calls, asked: () => asked };
}

describe("the end user's token", () => {
  test("calls carry the publishable key and the token; a valid token is asked for once", async () => {
    const later = Date.now() + 15 * 60_000;
    const { client, calls, asked } = browser([json(200, tracked), json(200, { ...usage, userId: "cus_1" })], [{ token: "eut_a", expiresAt: later }]);

    await client.usage.track({ cost: 2 });
    await client.usage.check();

    assert.equal(asked(), 1);
    for (const call of calls) {
      assert.equal(call.headers["x-publishable-key"], PK);
      assert.equal(call.headers["x-end-user-token"], "eut_a");
      assert.equal(call.headers.authorization, undefined);
    }
    assert.deepEqual(calls[0].body, { cost: 2 });
  });

  test("a token within a minute of its expiry is replaced before the call", async () => {
    const { client, calls, asked } = browser(
      [json(200, tracked), json(200, tracked)],
      [{ token: "eut_old", expiresAt: Date.now() + 30_000 }, { token: "eut_new", expiresAt: Date.now() + 3_600_000 }],
    );

    await client.usage.track();
    await client.usage.track();

    assert.equal(asked(), 2);
    assert.deepEqual(calls.map((c) => c.headers["x-end-user-token"]), ["eut_old", "eut_new"]);
  });

  test("concurrent calls share one refresh", async () => {
    const { client, asked } = browser([json(200, tracked), json(200, tracked), json(200, tracked)], [{ token: "eut_a", expiresAt: Date.now() + 3_600_000 }]);
    await Promise.all([client.usage.track(), client.usage.track(), client.usage.track()]);
    assert.equal(asked(), 1);
  });

  test("a refused token is replaced once and the call sent again", async () => {
    const refused = json(401, { error: "expired", code: "invalid_end_user_token", requestId: "req_1" });
    const { client, calls, asked } = browser([refused, json(200, tracked)], ["eut_revoked", "eut_fresh"]);

    assert.deepEqual(await client.usage.track(), tracked);
    assert.equal(asked(), 2);
    assert.deepEqual(calls.map((c) => c.headers["x-end-user-token"]), ["eut_revoked", "eut_fresh"]);
  });

  test("the catalog needs no token; a metered call without a provider says so", async () => {
    const fake = fakeFetch([json(200, { tiers: [{ name: "free" }] })]);
    const guest = new TollgateBrowser({ publishableKey: PK, baseUrl: BASE, fetch: fake.fetch });
    assert.deepEqual(await guest.catalog.tiers(), [{ name: "free" }]);
    assert.equal(fake.calls[0].headers["x-end-user-token"], undefined);
    await assert.rejects(guest.usage.track(), /getEndUserToken/);
  });

  test("the limit is a UsageLimitError with the usage, not retried", async () => {
    const limit = json(429, { error: "limit", code: "usage_limit_reached", requestId: "r", allowed: false, usage: { ...usage, remaining: 0 } }, { "Retry-After": "3600" });
    const { client, calls } = browser([limit, json(200, tracked)], ["eut_a"]);
    const error = await client.usage.track().catch((e) => e);
    assert.ok(error instanceof UsageLimitError);
    assert.equal(error.usage.remaining, 0);
    assert.equal(calls.length, 1);
  });

  test("the constructor refuses a secret key in a page", () => {
    assert.throws(() => new TollgateBrowser({ publishableKey: "sk_test_x", baseUrl: BASE }), TypeError);
  });
});

describe("following a checkout", () => {
  test("event-stream chunks parse into status events whatever the chunk boundaries", () => {
    const stream = ': connected\n\nevent: status\ndata: {"sessionId":"cs_1","status":"open"}\n\nevent: status\r\ndata: {"sessionId":"cs_1","status":"complete"}\r\n\r\n';
    for (const cut of [1, 7, 20, 40, stream.length - 3]) {
      const first = parseEvents(stream.slice(0, cut));
      const second = parseEvents(first.rest + stream.slice(cut));
      const events = [...first.events, ...second.events];
      assert.deepEqual(events.map((e) => [e.event, JSON.parse(e.data).status]), [["status", "open"], ["status", "complete"]], `cut at ${cut}`);
    }
  });

  test("follow reads the stream to its final status, then answers the full status", async () => {
    const sse = 'event: status\ndata: {"sessionId":"cs_1","status":"open"}\n\nevent: status\ndata: {"sessionId":"cs_1","status":"complete"}\n\n';
    const { client, calls } = browser(
      [{ status: 200, body: sse, headers: { "Content-Type": "text/event-stream" } }, json(200, { sessionId: "cs_1", status: "complete", paid: true })],
      ["eut_a"],
    );
    const seen = [];

    const final = await client.checkout.follow("cs_1", { onStatus: (s) => seen.push(s) });

    assert.deepEqual(final, { sessionId: "cs_1", status: "complete", paid: true });
    assert.deepEqual(seen, ["open", "complete"]);
    assert.equal(calls[0].url, `${BASE}/api/checkout/cs_1/events`);
    assert.equal(calls[0].headers.accept, "text/event-stream");
    assert.equal(calls[0].headers["x-end-user-token"], "eut_a");
  });

  test("a stream that ends without news is followed by the status route, then listened to again", async () => {
    const idle = { status: 200, body: ": connected\n\nevent: status\ndata: {\"sessionId\":\"cs_1\",\"status\":\"open\"}\n\n", headers: { "Content-Type": "text/event-stream" } };
    const { client, calls } = browser(
      [idle, json(200, { sessionId: "cs_1", status: "open", paid: false }), { ...idle, body: 'event: status\ndata: {"sessionId":"cs_1","status":"expired"}\n\n' }, json(200, { sessionId: "cs_1", status: "expired", paid: false })],
      ["eut_a"],
    );
    const final = await client.checkout.follow("cs_1");
    assert.equal(final.status, "expired");
    assert.deepEqual(calls.map((c) => new URL(c.url).pathname), ["/api/checkout/cs_1/events", "/api/checkout/cs_1", "/api/checkout/cs_1/events", "/api/checkout/cs_1"]);
  });

  test("a guest follows with its checkout secret and the publishable key alone", async () => {
    const fake = fakeFetch([{ status: 200, body: 'event: status\ndata: {"sessionId":"cs_1","status":"complete"}\n\n', headers: { "Content-Type": "text/event-stream" } }, json(200, { sessionId: "cs_1", status: "complete", paid: true })]);
    const guest = new TollgateBrowser({ publishableKey: PK, baseUrl: BASE, fetch: fake.fetch });
    await guest.checkout.follow("cs_1", { checkoutSecret: "css_x" });
    for (const call of fake.calls) {
      assert.equal(call.headers["x-checkout-secret"], "css_x");
      assert.equal(call.headers["x-end-user-token"], undefined);
    }
  });
});
