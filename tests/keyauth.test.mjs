// Key lookups under attack, over HTTP against the real local runtime: a made-up key that
// passes the checksum costs storage once and then nothing; an address that keeps trying them
// is refused with 429 before storage while a key it was served keeps working; a flood of keys
// cannot push a hot key out of the isolate cache; and a lookup in flight while its key is
// revoked cannot write the key back. The evidence is the development-only counter of the api
// isolate's key-lookup round trips (asked for with `X-Tollgate-Dev-Key-Lookups`, answered
// `kv=<reads>,d1=<queries>`),
// the statuses, and KV's own contents.

import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { devSecrets } from "../scripts/stack.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function base62(value, length) {
  let out = "";
  for (let i = 0; i < length; i += 1) {
    out = BASE62[Number(value % 62n)] + out;
    value /= 62n;
  }
  return out;
}

/** A key that passes the checksum but was never issued: what anyone can mint offline. */
function madeUpKey(prefix = "sk_test_") {
  const body = base62(BigInt(`0x${randomBytes(16).toString("hex")}`), 22);
  const digest = createHash("sha256").update(prefix).update(body).digest();
  return `${prefix}${body}${base62(BigInt(digest.readUInt32BE(0)), 6)}`;
}

/** Asks a development answer for the isolate's key-lookup round trips (see `roundTrips`). */
const LOOKUPS = "X-Tollgate-Dev-Key-Lookups";

/** The api isolate's key-lookup round trips so far, from a development answer. */
function roundTrips(res) {
  const found = /^kv=(\d+),d1=(\d+)$/.exec(res.headers.get("x-tollgate-dev-key-lookups") ?? "");
  assert.ok(found, "development answers carry the key-lookup counter when asked");
  return { kv: Number(found[1]), d1: Number(found[2]) };
}

let addresses = 0;
/** A client address of its own (the edge's `CF-Connecting-IP`), so tests never share a budget. */
const freshAddress = () => `198.51.100.${++addresses}`;

/** Asks the api worker who a key is, from `ip`, optionally at a development time `at`. */
function whoami(stack, key, ip, at) {
  const headers = key.startsWith("sk_") ? { Authorization: `Bearer ${key}` } : { "X-Publishable-Key": key };
  headers["CF-Connecting-IP"] = ip;
  headers[LOOKUPS] = "1";
  if (at !== undefined) headers["X-Tollgate-Dev-Now"] = String(at);
  return stack.call("api", "GET", "/api/project", { headers });
}

/** The KV names of cached key lookups. */
async function cachedLookups(stack) {
  const { keys } = await stack.kv().then((kv) => kv.list({ prefix: "auth:" }));
  return keys.map((k) => k.name).sort();
}

describe("unknown keys, failure budgets and the LRU", () => {
  let stack;
  before(async () => {
    stack = await testStack({ vars: { AUTH_FAILURE_BUDGET: "5", KEY_CACHE_ENTRIES: "4" } });
  });
  after(() => stack?.stop());

  test("a made-up well-formed key costs one D1 query, then is refused from the isolate with no storage at all", async () => {
    // Arrange
    const ip = freshAddress();
    const secret = madeUpKey();
    const publishable = madeUpKey("pk_test_");
    const cachedBefore = await cachedLookups(stack);
    const start = roundTrips(await stack.call("api", "GET", "/health", { headers: { [LOOKUPS]: "1" } }));

    // Act
    const first = await whoami(stack, secret, ip);
    const again = await whoami(stack, secret, ip);
    const firstPublishable = await whoami(stack, publishable, ip);
    const againPublishable = await whoami(stack, publishable, ip);

    // Assert
    for (const res of [first, again, firstPublishable, againPublishable]) {
      assert.deepEqual([res.status, res.body.code], [401, "invalid_api_key"]);
    }
    assert.deepEqual(roundTrips(first), { kv: start.kv + 1, d1: start.d1 + 1 }, "the first try reaches KV and D1 once");
    assert.deepEqual(roundTrips(again), roundTrips(first), "the second try reaches no storage");
    assert.deepEqual(roundTrips(firstPublishable), { kv: start.kv + 2, d1: start.d1 + 2 });
    assert.deepEqual(roundTrips(againPublishable), roundTrips(firstPublishable), "the same holds for publishable keys");
    assert.deepEqual(await cachedLookups(stack), cachedBefore, "nothing about unknown keys is written to KV");
  });

  test("an address that spent its failure budget gets 429 before storage, while a key it was served keeps working", async () => {
    // Arrange: times inside one budget window (they are development times, so the window
    // cannot roll over mid-test); a project whose key this address uses, and a second
    // project whose key it has never used.
    const window = (Math.floor(Date.now() / 60_000) + 1) * 60_000;
    const at = window + 1_000;
    const dev = await signIn(stack, "keyauth_budget");
    const served = await createProject(dev, { name: "Served" });
    const unseen = await createProject(dev, { name: "Unseen" });
    const ip = freshAddress();
    const db = await stack.d1();
    const keysBefore = await db.prepare("SELECT id, status FROM api_keys ORDER BY id").all();
    const cachedBefore = await cachedLookups(stack);
    assert.equal((await whoami(stack, served.secretKey, ip, at)).status, 200);
    for (let i = 0; i < 5; i += 1) {
      const refused = await whoami(stack, madeUpKey(), ip, at);
      assert.equal(refused.status, 401, `made-up key ${i + 1} is looked up and refused`);
    }
    const spent = roundTrips(await stack.call("api", "GET", "/health", { headers: { [LOOKUPS]: "1" } }));

    // Act
    const over = await whoami(stack, madeUpKey(), ip, at + 10);
    const overPublishable = await whoami(stack, madeUpKey("pk_test_"), ip, at + 10);
    const stillServed = await whoami(stack, served.secretKey, ip, at + 31_000);
    const neverServed = await whoami(stack, unseen.secretKey, ip, at + 31_000);
    const otherAddress = await whoami(stack, madeUpKey(), freshAddress(), at + 31_000);
    const nextWindow = await whoami(stack, unseen.secretKey, ip, window + 60_000);

    // Assert
    for (const res of [over, overPublishable]) {
      assert.deepEqual([res.status, res.body.code], [429, "too_many_auth_failures"]);
      assert.equal(res.headers.get("retry-after"), "59", "the seconds left in the window");
    }
    assert.deepEqual(roundTrips(overPublishable), spent, "refused before any storage");
    assert.equal(stillServed.status, 200, "a key this isolate served is looked up again past its cache lifetime");
    assert.equal(stillServed.body.data.projectId, served.project.id);
    assert.deepEqual([neverServed.status, neverServed.body.code], [429, "too_many_auth_failures"], "a key never served here waits like made-up ones");
    assert.equal(otherAddress.status, 401, "budgets are per address");
    assert.equal(nextWindow.status, 200, "the next window refills the budget");
    const keysAfter = await db.prepare("SELECT id, status FROM api_keys ORDER BY id").all();
    assert.deepEqual(keysAfter.results, keysBefore.results, "no key changed");
    assert.equal((await cachedLookups(stack)).length, cachedBefore.length + 2, "KV holds the two real keys, nothing for made-up ones");
  });

  test("a hot key keeps needing no storage through a flood of made-up keys and of other valid keys", async () => {
    // Arrange: the isolate keeps 4 found keys (KEY_CACHE_ENTRIES); six other projects' keys
    // are more than it can hold.
    const dev = await signIn(stack, "keyauth_lru");
    const hot = await createProject(dev, { name: "Hot" });
    const others = [];
    for (let i = 0; i < 6; i += 1) others.push(await createProject(dev, { name: `Other ${i}` }));
    const ip = freshAddress();
    assert.equal((await whoami(stack, hot.secretKey, ip)).status, 200, "warms the hot key");

    // Act + Assert: after every other key, the hot key answers with no storage round trip.
    for (const other of others) {
      const warmed = await whoami(stack, other.secretKey, ip);
      assert.equal(warmed.status, 200);
      const again = await whoami(stack, hot.secretKey, ip);
      assert.equal(again.status, 200);
      assert.deepEqual(roundTrips(again), roundTrips(warmed), "the hot key came from the isolate");
    }
    for (let i = 0; i < 40; i += 1) {
      const flood = await whoami(stack, madeUpKey(i % 2 ? "sk_test_" : "pk_test_"), `203.0.113.${Math.floor(i / 5)}`);
      assert.equal(flood.status, 401);
    }
    const beforeHot = roundTrips(await stack.call("api", "GET", "/health", { headers: { [LOOKUPS]: "1" } }));
    const hotAfterFlood = await whoami(stack, hot.secretKey, ip);
    assert.equal(hotAfterFlood.status, 200);
    assert.deepEqual(roundTrips(hotAfterFlood), beforeHot, "made-up keys never evict a found one");

    // The cache stays bounded: the coldest key was evicted (one entry, not the whole cache)
    // and is read again from KV, without D1.
    const beforeCold = roundTrips(hotAfterFlood);
    const cold = await whoami(stack, others[0].secretKey, ip);
    assert.equal(cold.status, 200);
    assert.deepEqual(roundTrips(cold), { kv: beforeCold.kv + 1, d1: beforeCold.d1 });
    const recent = await whoami(stack, others[5].secretKey, ip);
    assert.deepEqual(roundTrips(recent), roundTrips(cold), "a recently used key is still in the isolate");
  });
});

describe("a revoke racing a lookup in flight", () => {
  let stack;
  before(async () => {
    // Development only: every lookup that found its key in D1 waits 1.5 s before writing it
    // back to KV, so the revoke can commit in between.
    stack = await testStack({ vars: { KEY_WRITE_BACK_DELAY_MS: "1500" } });
  });
  after(() => stack?.stop());

  const kvName = (secretKey) =>
    `auth:sk:${createHmac("sha256", Buffer.from(devSecrets(stack.dir).KEY_PEPPER, "utf8")).update(secretKey).digest("hex")}`;

  test("without a revoke, the delayed lookup writes its key back to KV and serves it", async () => {
    const dev = await signIn(stack, "keyauth_control");
    const { project, secretKey } = await createProject(dev);

    const started = Date.now();
    const res = await whoami(stack, secretKey, freshAddress());

    assert.equal(res.status, 200, res.text);
    assert.ok(Date.now() - started >= 1_400, "the write-back was held by the development delay");
    assert.equal(res.body.data.projectId, project.id);
    assert.ok(await (await stack.kv()).get(kvName(secretKey)), "the lookup is cached in KV");
  });

  test("a key revoked while its lookup waits to write back is refused by that request, the next one and KV", async () => {
    // Arrange
    const dev = await signIn(stack, "keyauth_race");
    const { project, secretKey, key } = await createProject(dev);
    const ip = freshAddress();

    // Act: the lookup reads D1 (key active) and waits; the revoke commits and forgets the
    // key meanwhile; then the lookup writes back.
    const started = Date.now();
    const inFlight = whoami(stack, secretKey, ip);
    await sleep(300);
    const revoked = await dev.call("POST", `/v1/projects/${project.id}/keys/${key.id}/revoke`);
    const first = await inFlight;
    const elapsed = Date.now() - started;
    const next = await whoami(stack, secretKey, ip);

    // Assert
    assert.equal(revoked.status, 200, revoked.text);
    assert.ok(elapsed >= 1_400, `the revoke landed inside the held write-back (${elapsed} ms)`);
    assert.deepEqual([first.status, first.body.code], [401, "invalid_api_key"], "the in-flight request answers from the state after the revoke");
    assert.deepEqual([next.status, next.body.code], [401, "invalid_api_key"]);
    assert.equal(await (await stack.kv()).get(kvName(secretKey)), null, "the stale write-back was removed from KV");
    const row = await (await stack.d1()).prepare("SELECT status FROM api_keys WHERE id = ?1").bind(key.id).first();
    assert.equal(row.status, "revoked");
  });
});

describe("a key the api isolate has cached, then changed", () => {
  let stack;
  before(async () => {
    stack = await testStack();
  });
  after(() => stack?.stop());

  test("a rotated key's grace ends on time, not when the key cache expires", async () => {
    // Arrange: the old key is served once, so the api isolate holds its record (active, no end).
    const dev = await signIn(stack, "keyauth_grace");
    const { project, secretKey: old } = await createProject(dev);
    const ip = freshAddress();
    const warm = await whoami(stack, old, ip);
    assert.deepEqual([warm.status, warm.body.data?.keyExpiresAt], [200, null]);

    // Act
    const rotated = await dev.call("POST", `/v1/projects/${project.id}/keys/rotate`, { body: { gracePeriodSeconds: 3 } });
    const at = Date.now();
    const right = await whoami(stack, old, ip);
    await sleep(Math.max(0, at + 2_000 - Date.now()));
    const during = await whoami(stack, old, ip);
    await sleep(Math.max(0, at + 4_000 - Date.now()));
    const after = await whoami(stack, old, ip);

    // Assert
    assert.equal(rotated.status, 201, rotated.text);
    const end = rotated.body.data.previous.expiresAt;
    assert.deepEqual([right.status, right.body.data?.keyExpiresAt], [200, end], "the next use already knows the grace end");
    assert.equal(during.status, 200, "still in its grace at 2 s");
    assert.deepEqual([after.status, after.body.code], [401, "invalid_api_key"], "refused at 4 s, long before the 30 s cache would end");
    assert.equal((await whoami(stack, rotated.body.data.secretKey, ip)).status, 200);
  });

  test("a revoked key the isolate has cached is refused at its very next use", async () => {
    const dev = await signIn(stack, "keyauth_cached_revoke");
    const { project, secretKey, key } = await createProject(dev);
    const ip = freshAddress();
    assert.equal((await whoami(stack, secretKey, ip)).status, 200);

    const revoked = await dev.call("POST", `/v1/projects/${project.id}/keys/${key.id}/revoke`);
    const next = await whoami(stack, secretKey, ip);

    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual([next.status, next.body.code], [401, "invalid_api_key"]);
  });

  test("a revoked key the billing worker has cached is refused on a buying route at its very next use", async () => {
    // Arrange: one call through the api's billing route leaves the key in a billing isolate.
    const dev = await signIn(stack, "keyauth_billing_revoke");
    const { project, secretKey, key } = await createProject(dev);
    const headers = { Authorization: `Bearer ${secretKey}`, "X-User-Id": "nobody", "CF-Connecting-IP": freshAddress() };
    const warm = await stack.call("api", "GET", "/api/subscription", { headers });
    assert.deepEqual([warm.status, warm.body.code], [404, "unknown_end_user"], warm.text);

    // Act
    const revoked = await dev.call("POST", `/v1/projects/${project.id}/keys/${key.id}/revoke`);
    const next = await stack.call("api", "GET", "/api/subscription", { headers });

    // Assert: the api relayed the platform's notice to the billing worker.
    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual([next.status, next.body.code], [401, "invalid_api_key"]);
  });

  test("a secret key's last use shows on the keys list, kept to within five minutes and never moved back", async () => {
    // Arrange
    const dev = await signIn(stack, "keyauth_last_used");
    const { project, secretKey, key } = await createProject(dev);
    const lastUsed = async () => {
      const res = await dev.call("GET", `/v1/projects/${project.id}/keys`);
      assert.equal(res.status, 200, res.text);
      return res.body.data.find((k) => k.id === key.id).lastUsedAt;
    };
    const ip = freshAddress();
    const start = Date.now() + 3_600_000;
    const seen = [await lastUsed()];

    // Act: uses at dev times start, +1 min, +6 min, then the real (earlier) time.
    for (const at of [start, start + 60_000, start + 360_000, undefined]) {
      assert.equal((await whoami(stack, secretKey, ip, at)).status, 200);
      seen.push(await lastUsed());
    }

    // Assert
    assert.deepEqual(seen, [null, start, start, start + 360_000, start + 360_000]);
  });

  test("the api and billing workers' cache notice routes answer 404 to anything unsigned or stale, like an unknown route", async () => {
    const body = JSON.stringify({ cacheKeys: ["auth:pk:pk_test_x"], at: Date.now() });
    const cases = [
      ["no tag", {}],
      ["a made-up tag", { "X-Tollgate-Internal": "0".repeat(64) }],
      ["a tag for another body", { "X-Tollgate-Internal": createHmac("sha256", "x").update(body).digest("hex") }],
    ];
    for (const worker of ["api", "billing"]) {
      for (const [name, headers] of cases) {
        const res = await stack.call(worker, "POST", "/internal/keys/forget", { headers: { "Content-Type": "application/json", ...headers }, body });
        assert.deepEqual([res.status, res.body.code], [404, "not_found"], `${worker}: ${name}`);
      }
    }
  });
});
