// The SDK's HTTP behaviour against a fake fetch: idempotency keys, retries with backoff and
// Retry-After, what is never retried, timeouts, and the typed errors.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AuthenticationError,
  ConnectionError,
  IdempotencyError,
  InvalidApiKeyError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ReauthenticationRequiredError,
  ServerError,
  SoldOutError,
  TimeoutError,
  Tollgate,
  TollgateError,
  UsageLimitError,
  ValidationError,
  backoffDelay,
} from "../dist/index.js";
import { drop, fakeFetch, hang, json, tracked, usage } from "./fake-fetch.mjs";

const BASE = "http://tollgate.test";
const SK = "sk_test_abc";
const err = (status, code, extra = {}) => json(status, { error: `failed: ${code}`, code, requestId: "req_err", ...extra });

function client(steps, options = {}) {
  const fake = fakeFetch(steps);
  const tollgate = new Tollgate({ secretKey: SK, baseUrl: `${BASE}/`, fetch: fake.fetch, ...options });
  tollgate.transport.random = () => 0; // the shortest jittered wait, so tests stay fast
  return { tollgate, calls: fake.calls };
}

describe("requests", () => {
  test("a call sends the secret key, the end user and a JSON body to the base URL's path", async () => {
    const { tollgate, calls } = client([json(200, tracked)]);

    const answer = await tollgate.usage.track({ userId: "user_42", cost: 3 });

    assert.deepEqual(answer, tracked);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, `${BASE}/api/data`);
    assert.equal(calls[0].method, "POST");
    assert.equal(calls[0].headers.authorization, `Bearer ${SK}`);
    assert.equal(calls[0].headers["x-user-id"], "user_42");
    assert.deepEqual(calls[0].body, { cost: 3 });
  });

  test("every write gets a fresh Idempotency-Key unless one is given; reads get none", async () => {
    const { tollgate, calls } = client([json(200, tracked), json(200, tracked), json(200, tracked), json(200, { ...usage, userId: "cus_1" })]);

    await tollgate.usage.track({ userId: "u" });
    await tollgate.usage.track({ userId: "u" });
    await tollgate.usage.track({ userId: "u", idempotencyKey: "call-0001" });
    await tollgate.usage.check({ userId: "u" });

    const [a, b, given, read] = calls.map((c) => c.headers["idempotency-key"]);
    assert.match(a, /^idk_[0-9a-f]{32}$/);
    assert.match(b, /^idk_[0-9a-f]{32}$/);
    assert.notEqual(a, b);
    assert.equal(given, "call-0001");
    assert.equal(read, undefined);
  });

  test("path segments are encoded and query parameters left out when undefined", async () => {
    const { tollgate, calls } = client([json(200, { data: [], total: 0, page: 2, pageSize: 5 }), json(200, { data: {}, success: true, customer: {} })]);

    await tollgate.customers.list({ page: 2, pageSize: 5, email: undefined });
    await tollgate.customers.get("user/1 ?");

    assert.equal(calls[0].url, `${BASE}/api/customers?page=2&pageSize=5`);
    assert.equal(calls[1].url, `${BASE}/api/customers/user%2F1%20%3F`);
  });

  test("the paging iterator walks every page until total", async () => {
    const row = (n) => ({ id: `cus_${n}` });
    const { tollgate, calls } = client([
      json(200, { data: [row(1), row(2)], total: 5, page: 1, pageSize: 2 }),
      json(200, { data: [row(3), row(4)], total: 5, page: 2, pageSize: 2 }),
      json(200, { data: [row(5)], total: 5, page: 3, pageSize: 2 }),
    ]);

    const ids = [];
    for await (const customer of tollgate.customers.iterate({ pageSize: 2 })) ids.push(customer.id);

    assert.deepEqual(ids, ["cus_1", "cus_2", "cus_3", "cus_4", "cus_5"]);
    assert.deepEqual(calls.map((c) => new URL(c.url).searchParams.get("page")), ["1", "2", "3"]);
  });

  test("the constructor refuses a key that is not a secret key, and a missing base URL", () => {
    assert.throws(() => new Tollgate({ secretKey: "pk_test_x", baseUrl: BASE }), TypeError);
    assert.throws(() => new Tollgate({ secretKey: SK, baseUrl: "" }), TypeError);
  });
});

describe("retries", () => {
  test("5xx, 429 and network errors are retried under the same Idempotency-Key", async () => {
    const { tollgate, calls } = client(
      [err(503, "storage_unavailable", {}), drop(), err(429, "rate_limited"), json(200, tracked)],
      { maxRetries: 3 },
    );

    const answer = await tollgate.usage.track({ userId: "u" });

    assert.deepEqual(answer, tracked);
    assert.equal(calls.length, 4);
    const keys = new Set(calls.map((c) => c.headers["idempotency-key"]));
    assert.equal(keys.size, 1, "one key for every attempt");
  });

  test("409 idempotency_in_flight is retried; the answer after the lease is the call's", async () => {
    const { tollgate, calls } = client([err(409, "idempotency_in_flight", {}), json(200, tracked)]);
    assert.deepEqual(await tollgate.usage.track({ userId: "u", idempotencyKey: "k1" }), tracked);
    assert.deepEqual(calls.map((c) => c.headers["idempotency-key"]), ["k1", "k1"]);
  });

  test("other 4xx are never retried", async () => {
    for (const [status, code] of [
      [400, "invalid_json"],
      [401, "invalid_api_key"],
      [403, "forbidden"],
      [404, "not_found"],
      [409, "duplicate_external_id"],
      [409, "sold_out"],
      [422, "validation_failed"],
      [422, "idempotency_key_reused"],
    ]) {
      const { tollgate, calls } = client([err(status, code), json(200, tracked)]);
      await assert.rejects(tollgate.usage.track({ userId: "u" }), (e) => e instanceof TollgateError && e.code === code);
      assert.equal(calls.length, 1, `${status} ${code} is not retried`);
    }
  });

  test("429 usage_limit_reached is never retried: only a new period lifts it", async () => {
    const { tollgate, calls } = client([err(429, "usage_limit_reached", { allowed: false, usage: { ...usage, remaining: 0 } }, ), json(200, tracked)]);
    await assert.rejects(tollgate.usage.track({ userId: "u" }), UsageLimitError);
    assert.equal(calls.length, 1);
  });

  test("it gives up after maxRetries and throws the last error", async () => {
    const { tollgate, calls } = client([err(502, "payment_provider_unavailable"), err(502, "payment_provider_unavailable"), err(500, "internal_error")], { maxRetries: 2 });
    await assert.rejects(tollgate.checkout.status("cs_1"), (e) => e instanceof ServerError && e.status === 500 && e.code === "internal_error");
    assert.equal(calls.length, 3);
  });

  test("maxRetries: 0 sends once", async () => {
    const { tollgate, calls } = client([err(503, "storage_unavailable"), json(200, tracked)], { maxRetries: 0 });
    await assert.rejects(tollgate.usage.track({ userId: "u" }), ServerError);
    assert.equal(calls.length, 1);
  });

  test("Retry-After is waited out before the retry", async () => {
    const { tollgate, calls } = client([{ ...err(429, "rate_limited"), headers: { "Retry-After": "1" } }, json(200, tracked)]);
    await tollgate.usage.track({ userId: "u" });
    const waited = calls[1].at - calls[0].at;
    assert.ok(waited >= 990, `waited ${waited} ms for Retry-After: 1`);
  });

  test("a Retry-After longer than a minute is not waited for: the error is thrown at once", async () => {
    const { tollgate, calls } = client([{ ...err(429, "guest_carts_full"), headers: { "Retry-After": "3600" } }, json(200, tracked)]);
    await assert.rejects(tollgate.usage.track({ userId: "u" }), (e) => e.retryAfter === 3600);
    assert.equal(calls.length, 1);
  });

  test("the backoff doubles from 250 ms with equal jitter and is capped at 8 s", () => {
    const low = () => 0;
    const high = () => 0.999999;
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, undefined, low)), [125, 250, 500, 1000, 2000, 4000, 4000, 4000]);
    assert.deepEqual([0, 1, 5].map((n) => Math.round(backoffDelay(n, undefined, high))), [250, 500, 8000]);
    assert.equal(backoffDelay(3, 2.5), 2500, "Retry-After wins");
  });

  test("the real waits between attempts grow", async () => {
    const { tollgate, calls } = client([drop(), drop(), json(200, tracked)], { maxRetries: 2 });
    await tollgate.usage.check({ userId: "u" });
    const first = calls[1].at - calls[0].at;
    const second = calls[2].at - calls[1].at;
    assert.ok(first >= 120 && second >= 245, `waited ${first} then ${second} ms`);
  });

  test("creating a customer is not retried after an ambiguous failure, but is after a 503 that did nothing", async () => {
    const dropped = client([drop(), json(201, { data: { id: "cus_1" } })]);
    await assert.rejects(dropped.tollgate.customers.create({ email: "a@example.test" }), ConnectionError);
    assert.equal(dropped.calls.length, 1);

    const refused = client([err(503, "storage_unavailable"), json(201, { data: { id: "cus_1" }, success: true, customer: { id: "cus_1" } })]);
    assert.equal((await refused.tollgate.customers.create({ email: "a@example.test" })).id, "cus_1");
    assert.equal(refused.calls.length, 2);
  });
});

describe("timeouts and aborts", () => {
  test("an attempt that does not answer within timeoutMs fails as TimeoutError, after its retries", async () => {
    const { tollgate, calls } = client([hang(), hang()], { timeoutMs: 50, maxRetries: 1 });
    const started = Date.now();
    await assert.rejects(tollgate.usage.check({ userId: "u" }), (e) => e instanceof TimeoutError && e instanceof ConnectionError && e.status === 0 && e.code === "timeout");
    assert.equal(calls.length, 2);
    assert.ok(Date.now() - started < 2_000);
  });

  test("a per-call timeout overrides the client's", async () => {
    const { tollgate } = client([hang()], { timeoutMs: 60_000, maxRetries: 0 });
    await assert.rejects(tollgate.usage.check({ userId: "u" }, { timeoutMs: 30 }), TimeoutError);
  });

  test("the caller's AbortSignal stops the call and its retries with the signal's reason", async () => {
    const { tollgate, calls } = client([hang(), hang()], { maxRetries: 3 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("user left")), 30);
    await assert.rejects(tollgate.usage.check({ userId: "u" }, { signal: controller.signal }), /user left/);
    assert.equal(calls.length, 1);
  });
});

describe("error typing", () => {
  test("each code integrators branch on has its own class, and every one is a TollgateError", async () => {
    const cases = [
      [401, "invalid_api_key", InvalidApiKeyError],
      [401, "missing_credentials", AuthenticationError],
      [403, "reauthentication_required", ReauthenticationRequiredError],
      [403, "forbidden", PermissionDeniedError],
      [404, "unknown_end_user", NotFoundError],
      [409, "sold_out", SoldOutError],
      [422, "validation_failed", ValidationError],
      [422, "idempotency_key_reused", IdempotencyError],
      [429, "usage_limit_reached", UsageLimitError],
      [429, "too_many_auth_failures", RateLimitError],
    ];
    for (const [status, code, Class] of cases) {
      const { tollgate } = client([err(status, code, { fieldErrors: { email: ["is invalid"] } })], { maxRetries: 0 });
      const error = await tollgate.usage.check({ userId: "u" }).catch((e) => e);
      assert.ok(error instanceof Class, `${code} → ${Class.name}, got ${error?.constructor?.name}`);
      assert.ok(error instanceof TollgateError);
      assert.equal(error.name, Class.name);
      assert.equal(error.status, status);
      assert.equal(error.code, code);
      assert.equal(error.requestId, "req_err");
      assert.deepEqual(error.fieldErrors, { email: ["is invalid"] });
      assert.equal(error.message, `failed: ${code}`);
    }
  });

  test("a usage limit error carries the usage; a sold-out error the products short", async () => {
    const atLimit = client([err(429, "usage_limit_reached", { allowed: false, usage: { ...usage, count: 10, remaining: 0 } })]);
    const limit = await atLimit.tollgate.usage.track({ userId: "u" }).catch((e) => e);
    assert.equal(limit.usage.remaining, 0);

    const short = client([err(409, "sold_out", { fieldErrors: { items: ["prd_1"] } })]);
    const sold = await short.tollgate.checkout.cart({ items: [{ productId: "prd_1" }], successUrl: "x", cancelUrl: "y" }).catch((e) => e);
    assert.ok(sold instanceof SoldOutError);
    assert.deepEqual(sold.fieldErrors.items, ["prd_1"]);
  });

  test("an answer that is not JSON is an unexpected_response error with the request id", async () => {
    const { tollgate } = client([{ status: 502, body: "<html>bad gateway</html>", headers: { "Content-Type": "text/html" } }], { maxRetries: 0 });
    const error = await tollgate.usage.check({ userId: "u" }).catch((e) => e);
    assert.ok(error instanceof ServerError);
    assert.equal(error.code, "unexpected_response");
    assert.equal(error.requestId, "req_fake");
  });
});
