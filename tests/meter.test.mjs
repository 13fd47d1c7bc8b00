// Metering through the objects: each end user's exact counter is a Durable Object (the meter
// worker), D1 is the dashboards' ledger it flushes to. Over HTTP, against real Durable
// Objects, D1 and the flush alarm under the local workerd.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";

/** The flush bound the local stack runs with (scripts/stack.mjs `METER_FLUSH_MS`). */
const FLUSH_MS = 200;

let stack;
let counter = 0;

before(async () => {
  stack = await testStack();
});
after(() => stack?.stop());

/** A project with `tiers` (the first is the default) on `on` (the shared stack unless named). */
async function setup(sub, tiers, on = stack) {
  const dev = await signIn(on, sub);
  const { project, secretKey } = await createProject(dev, { name: sub });
  const db = await on.d1();
  // Throughput, not the per-key rate limiter, is what these tests drive.
  await db.prepare("UPDATE projects SET rate_limit_secret = 1000000 WHERE id = ?1").bind(project.id).run();
  for (const [i, t] of tiers.entries()) {
    await db
      .prepare(
        "INSERT INTO tiers (id, project_id, name, display_name, price, usage_limit, is_default, created_at, updated_at) VALUES (?1, ?2, ?3, ?3, 0, ?4, ?5, ?6, ?6)",
      )
      .bind(`tier_${sub}_${i}`, project.id, t.name, t.limit ?? null, i === 0 ? 1 : 0, Date.now())
      .run();
  }
  const server = (method, path, { headers = {}, ...rest } = {}) =>
    on.call("api", method, path, { headers: { Authorization: `Bearer ${secretKey}`, ...headers }, ...rest });
  const catalog = (method, path, rest = {}) =>
    on.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, ...rest });
  return { dev, project, server, catalog };
}

async function customer(app, body = {}) {
  const res = await app.server("POST", "/api/customers", { body: { email: `m${++counter}@example.test`, ...body } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

const track = (app, userId, { cost, headers = {} } = {}) =>
  app.server("POST", "/api/data", { headers: { "X-User-Id": userId, ...headers }, body: cost === undefined ? undefined : { cost } });

const usage = async (app, userId) => (await app.server("GET", "/api/usage", { headers: { "X-User-Id": userId } })).body;

/** What the ledger holds for an end user: their counters' total and their days' total. */
async function ledger(projectId, endUserId) {
  const db = await stack.d1();
  const counters = await db.prepare("SELECT COALESCE(SUM(count), 0) AS n FROM usage_counters WHERE project_id = ?1 AND end_user_id = ?2").bind(projectId, endUserId).first();
  const days = await db.prepare("SELECT COALESCE(SUM(count), 0) AS n FROM end_user_usage_days WHERE project_id = ?1 AND end_user_id = ?2").bind(projectId, endUserId).first();
  return { counters: counters.n, days: days.n };
}

async function until(check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The meter worker is internal (bound by script name, in no public contract), so it is
 * called directly rather than through the contract-checking client.
 */
async function meterCall(method, path, body) {
  const res = await fetch(`${stack.direct.meter}${path}`, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const control = (name, projectId, endUserId) => meterCall("POST", `/dev/meter/${name}`, { projectId, endUserId });

describe("metering objects", () => {
  test("fifty end users metered at once, interleaved, each stop exactly at their own limit", async () => {
    // Arrange: five tiers with limits 3, 5, 7, 9, 11 and ten end users on each.
    const limits = [3, 5, 7, 9, 11];
    const app = await setup("meter_fifty", limits.map((limit, i) => ({ name: `t${i}`, limit })));
    const users = [];
    for (let i = 0; i < 50; i += 1) {
      const plan = `t${i % limits.length}`;
      users.push({ ...(await customer(app, { plan })), limit: limits[i % limits.length] });
    }

    // Act: fifteen calls each, all 750 in flight together, end users interleaved.
    const calls = [];
    for (let round = 0; round < 15; round += 1) for (const u of users) calls.push(track(app, u.id).then((res) => ({ u, res })));
    const answers = await Promise.all(calls);

    // Assert
    for (const u of users) {
      const mine = answers.filter((a) => a.u === u);
      assert.equal(mine.filter((a) => a.res.status === 200).length, u.limit, `${u.id} allowed`);
      assert.ok(mine.filter((a) => a.res.status !== 200).every((a) => a.res.status === 429));
      assert.equal((await usage(app, u.id)).count, u.limit);
    }
  });

  test("the ledger reaches the exact count within the flush bound, its day tallies with it", async () => {
    const app = await setup("meter_flush", [{ name: "free", limit: 100 }]);
    const cus = await customer(app);

    for (let i = 0; i < 12; i += 1) assert.equal((await track(app, cus.id)).status, 200);
    const counted = Date.now();
    const reached = await until(async () => (await ledger(app.project.id, cus.id)).counters === 12, FLUSH_MS + 2_000);

    assert.ok(reached, "the ledger caught up");
    assert.ok(Date.now() - counted < FLUSH_MS + 2_000);
    assert.deepEqual(await ledger(app.project.id, cus.id), { counters: 12, days: 12 });
    const dashboard = await app.server("GET", "/api/dashboard");
    assert.equal(dashboard.status, 200, dashboard.text);
  });

  test("a flush that fails once is retried, and nothing is counted twice", async () => {
    const app = await setup("meter_retry", [{ name: "free", limit: 100 }]);
    const cus = await customer(app);
    await track(app, cus.id);
    await until(async () => (await ledger(app.project.id, cus.id)).counters === 1, FLUSH_MS + 2_000);

    // Act: the next flush fails; more calls arrive meanwhile; a manual flush after the retry
    // writes the same totals again.
    assert.equal((await control("fail-next-flush", app.project.id, cus.id)).status, 200);
    for (let i = 0; i < 5; i += 1) await track(app, cus.id);
    await new Promise((r) => setTimeout(r, FLUSH_MS + 100));
    const duringFailure = await ledger(app.project.id, cus.id);
    const retried = await until(async () => (await ledger(app.project.id, cus.id)).counters === 6, 3_000);
    const again = await control("flush", app.project.id, cus.id);

    // Assert
    assert.equal(duringFailure.counters, 1, "the failed flush wrote nothing");
    assert.ok(retried, "the retry wrote the totals");
    assert.equal(again.status, 200);
    assert.equal(again.body.pending, false);
    assert.deepEqual(await ledger(app.project.id, cus.id), { counters: 6, days: 6 });
    assert.equal((await usage(app, cus.id)).count, 6);
  });

  test("counts made before the objects existed carry over: no end user's count resets", async () => {
    // Arrange: the ledger holds 7 units of this month from before the switch.
    const app = await setup("meter_seed", [{ name: "free", limit: 10 }]);
    const cus = await customer(app);
    const now = new Date();
    const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    await (await stack.d1())
      .prepare("INSERT INTO usage_counters (project_id, end_user_id, period_start, period_end, count, updated_at) VALUES (?1, ?2, ?3, ?4, 7, ?5)")
      .bind(app.project.id, cus.id, start, end, Date.now())
      .run();

    // Act
    const before = await usage(app, cus.id);
    const counted = await track(app, cus.id, { cost: 3 });
    const over = await track(app, cus.id);

    // Assert
    assert.equal(before.count, 7);
    assert.equal(counted.status, 200, counted.text);
    assert.equal(counted.body.usage.count, 10);
    assert.equal(over.status, 429);
    assert.ok(await until(async () => (await ledger(app.project.id, cus.id)).counters === 10, FLUSH_MS + 2_000));
  });

  test("a tier edit reaches the next call: the objects read the records again", async () => {
    const app = await setup("meter_tier", [{ name: "free", limit: 2 }]);
    const cus = await customer(app);
    await track(app, cus.id);
    await track(app, cus.id);
    assert.equal((await track(app, cus.id)).status, 429);
    const tiers = `/v1/projects/${app.project.id}/tiers`;
    const tier = (await app.catalog("GET", `${tiers}/tier_meter_tier_0`)).body.data;

    const edited = await app.catalog("PATCH", `${tiers}/${tier.id}`, { body: { limit: 5, updatedAt: tier.updatedAt } });
    const next = await track(app, cus.id);

    assert.equal(edited.status, 200, edited.text);
    assert.equal(next.status, 200, next.text);
    assert.equal(next.body.usage.count, 3);
    assert.equal(next.body.usage.limit, 5);
  });

  test("a change that no notice reached still decides calls once the object's allowance is a minute old", async () => {
    // Arrange: a limit of 2 reached at a fixed development time.
    const app = await setup("meter_bound", [{ name: "free", limit: 2 }]);
    const cus = await customer(app);
    const at = (ms) => ({ headers: { "X-Tollgate-Dev-Now": String(ms) } });
    const start = Date.UTC(2031, 0, 10);
    await track(app, cus.id, at(start));
    await track(app, cus.id, at(start));
    assert.equal((await track(app, cus.id, at(start)).then((r) => r.status)), 429);

    // Act: the limit rises behind the objects' backs (no forget, as when a notice is lost or
    // a tier edit's project has more active end users than it tells at once).
    const db = await stack.d1();
    await db.prepare("UPDATE tiers SET usage_limit = 5 WHERE id = ?1").bind("tier_meter_bound_0").run();
    const within = await track(app, cus.id, at(start + 59_000));
    const past = await track(app, cus.id, at(start + 60_000));

    // Assert
    assert.equal(within.status, 429, "inside the bound the object keeps what it read");
    assert.equal(past.status, 200, past.text);
    assert.deepEqual([past.body.usage.count, past.body.usage.limit], [3, 5]);
  });

  test("a deleted end user's object counts nothing more, and their external id may name someone new", async () => {
    const app = await setup("meter_delete", [{ name: "free", limit: 5 }]);
    const first = await customer(app, { externalId: "user-42" });
    await track(app, "user-42");
    await track(app, "user-42");

    const deleted = await app.server("DELETE", `/api/customers/${first.id}`);
    const gone = await track(app, first.id);
    const second = await customer(app, { externalId: "user-42" });
    const fresh = await track(app, "user-42");

    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(gone.status, 404, gone.text);
    assert.notEqual(second.id, first.id);
    assert.equal(fresh.status, 200, fresh.text);
    assert.equal(fresh.body.usage.count, 1, "the new end user starts at zero");
  });

  test("the meter worker answers nothing public but its health", async () => {
    const health = await meterCall("GET", "/health");
    const other = await meterCall("POST", "/track", {});
    const badControl = await meterCall("POST", "/dev/meter/flush", { projectId: "x" });

    assert.equal(health.status, 200);
    assert.equal(health.body.worker, "meter");
    assert.equal(other.status, 404);
    assert.equal(badControl.status, 400);
  });
});

describe("a tier edit in a project with more active end users than it tells at once", () => {
  let small;
  before(async () => {
    // One at a time (deployed: tollgate::meter::FORGET_AT_ONCE).
    small = await testStack({ vars: { METER_FORGET_AT_ONCE: "1" } });
  });
  after(() => small?.stop());

  test("tells the most recently metered end user at once, and the others' objects within the allowance bound", async () => {
    // Arrange: two end users at their limit of 1, the second metered a second later.
    const app = await setup("meter_recent", [{ name: "free", limit: 1 }], small);
    const [earlier, later] = [await customer(app), await customer(app)];
    const at = (ms) => ({ headers: { "X-Tollgate-Dev-Now": String(ms) } });
    const start = Date.UTC(2031, 0, 10);
    assert.equal((await track(app, earlier.id, at(start))).status, 200);
    assert.equal((await track(app, later.id, at(start + 1_000))).status, 200);
    await small.settleMeters(app.project.id);
    const tiers = `/v1/projects/${app.project.id}/tiers`;
    const tier = (await app.catalog("GET", `${tiers}/tier_meter_recent_0`)).body.data;

    // Act
    const edited = await app.catalog("PATCH", `${tiers}/${tier.id}`, { body: { limit: 5, updatedAt: tier.updatedAt } });
    const laterNext = await track(app, later.id, at(start + 2_000));
    const earlierNext = await track(app, earlier.id, at(start + 2_000));
    const earlierPastBound = await track(app, earlier.id, at(start + 61_000));

    // Assert
    assert.equal(edited.status, 200, edited.text);
    assert.equal(laterNext.status, 200, "the most recently metered end user was told");
    assert.equal(earlierNext.status, 429, "the other keeps what its object read");
    assert.equal(earlierPastBound.status, 200, "until its allowance is a minute old");
    assert.equal(earlierPastBound.body.usage.limit, 5);
  });
});
