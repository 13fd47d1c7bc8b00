// The customer API (the api worker): key lanes, end users, end-user tokens, exact metering
// under concurrency, idempotent retries, periods, the public catalog and tenant isolation —
// over HTTP, against the real local runtime with real local D1.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, devToken, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";

let stack;
let counter = 0;

/** Seeds tiers for a project through SQL (the catalog worker will manage them). */
async function seedTiers(projectId, tiers) {
  const db = await stack.d1();
  const now = Date.now();
  for (const t of tiers) {
    counter += 1;
    await db
      .prepare(
        "INSERT INTO tiers (id, project_id, name, display_name, price, usage_limit, features, is_default, popular, created_at, updated_at) " +
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
      )
      .bind(`tier_t${counter}`, projectId, t.name, t.displayName ?? t.name, t.price ?? 0, t.limit ?? null, JSON.stringify(t.features ?? []), t.isDefault ? 1 : 0, t.popular ? 1 : 0, now)
      .run();
  }
}

/** A fresh project with a free default tier (`limit`) and a pro tier, and a server client. */
async function setup(sub, { limit = 5, proLimit = null } = {}) {
  const dev = await signIn(stack, sub);
  const { project, secretKey } = await createProject(dev, { name: sub });
  await seedTiers(project.id, [
    { name: "free", limit, isDefault: true, features: ["basic"] },
    { name: "pro", limit: proLimit, price: 1900, popular: true },
  ]);
  const server = (method, path, { headers = {}, ...rest } = {}) =>
    stack.call("api", method, path, { headers: { Authorization: `Bearer ${secretKey}`, ...headers }, ...rest });
  const browser = (method, path, { headers = {}, ...rest } = {}) =>
    stack.call("api", method, path, { headers: { "X-Publishable-Key": project.publishableKey, ...headers }, ...rest });
  return { dev, project, secretKey, server, browser };
}

async function customer(app, body = {}) {
  const res = await app.server("POST", "/api/customers", { body: { email: `c${++counter}@example.test`, ...body } });
  assert.equal(res.status, 201, res.text);
  return res.body.data;
}

const track = (app, userId, { cost, headers = {} } = {}) =>
  app.server("POST", "/api/data", { headers: { "X-User-Id": userId, ...headers }, body: cost === undefined ? undefined : { cost } });

before(async () => {
  stack = await testStack();
});
after(() => stack?.stop());

describe("metering", () => {
  test("a call counts one unit and answers the usage object in both vocabularies", async () => {
    const app = await setup("api_track");
    const cus = await customer(app);

    const res = await track(app, cus.id);

    assert.equal(res.status, 200);
    assert.equal(res.body.allowed, true);
    assert.equal(res.body.success, true);
    assert.equal(res.body.usage.count, 1);
    assert.equal(res.body.usage.usageCount, 1);
    assert.equal(res.body.usage.limit, 5);
    assert.equal(res.body.usage.remaining, 4);
    assert.equal(res.body.usage.plan, "free");
    assert.match(res.body.usage.periodStart, /^\d{4}-\d{2}-01T00:00:00\.000Z$/);
  });

  test("at the limit the call answers 429 with the usage object and Retry-After, and counts nothing", async () => {
    const app = await setup("api_limit", { limit: 2 });
    const cus = await customer(app);
    await track(app, cus.id);
    await track(app, cus.id);

    const refused = await track(app, cus.id);
    const usage = await app.server("GET", "/api/usage", { headers: { "X-User-Id": cus.id } });

    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, "usage_limit_reached");
    assert.equal(refused.body.allowed, false);
    assert.equal(refused.body.usage.count, 2);
    assert.equal(refused.body.usage.remaining, 0);
    assert.ok(Number(refused.headers.get("retry-after")) > 0);
    assert.equal(usage.body.usageCount, 2, "GET /api/usage has the fields at the top level");
    assert.equal(usage.body.userId, cus.id);
  });

  test("400 concurrent calls against a limit of 50 allow exactly 50", async () => {
    const app = await setup("api_race", { limit: 50 });
    const cus = await customer(app);

    const answers = await Promise.all(Array.from({ length: 400 }, () => track(app, cus.id)));

    const allowed = answers.filter((r) => r.status === 200).length;
    const refused = answers.filter((r) => r.status === 429).length;
    assert.deepEqual({ allowed, refused }, { allowed: 50, refused: 350 });
    // The ledger the dashboards read holds the same count once the object has flushed.
    await stack.settleMeters(app.project.id);
    const db = await stack.d1();
    const row = await db.prepare("SELECT count FROM usage_counters WHERE end_user_id = ?1").bind(cus.id).first();
    assert.equal(row.count, 50);
  });

  test("with cost 3 and a limit of 10, exactly 3 concurrent calls fit and the count is 9", async () => {
    const app = await setup("api_race_cost", { limit: 10 });
    const cus = await customer(app);

    const answers = await Promise.all(Array.from({ length: 60 }, () => track(app, cus.id, { cost: 3 })));

    assert.equal(answers.filter((r) => r.status === 200).length, 3);
    const usage = await app.server("GET", "/api/usage", { headers: { "X-User-Id": cus.id } });
    assert.equal(usage.body.count, 9);
  });

  test("cost 0 checks without counting, and is refused once nothing is left", async () => {
    const app = await setup("api_check", { limit: 1 });
    const cus = await customer(app);

    const before = await track(app, cus.id, { cost: 0 });
    await track(app, cus.id);
    const afterLimit = await track(app, cus.id, { cost: 0 });

    assert.equal(before.status, 200);
    assert.equal(before.body.usage.count, 0);
    assert.equal(afterLimit.status, 429);
    assert.equal(afterLimit.body.usage.count, 1);
  });

  test("bad costs are refused and count nothing", async () => {
    const app = await setup("api_badcost");
    const cus = await customer(app);

    for (const cost of [-1, 1.5, "3", 1_000_001]) {
      const res = await track(app, cus.id, { cost });
      assert.ok([400, 422].includes(res.status), `cost ${JSON.stringify(cost)} → ${res.status}`);
    }
    const usage = await app.server("GET", "/api/usage", { headers: { "X-User-Id": cus.id } });
    assert.equal(usage.body.count, 0);
  });

  test("a retry with the same Idempotency-Key counts once and replays the answer", async () => {
    const app = await setup("api_idem", { limit: 10 });
    const cus = await customer(app);
    const headers = { "Idempotency-Key": "call-1" };

    const first = await track(app, cus.id, { headers });
    const retries = await Promise.all(Array.from({ length: 5 }, () => track(app, cus.id, { headers })));
    const other = await track(app, cus.id, { headers: { "Idempotency-Key": "call-2" } });

    assert.equal(first.body.usage.count, 1);
    for (const retry of retries) {
      assert.equal(retry.status, 200);
      assert.equal(retry.body.usage.count, 1);
    }
    assert.equal(other.body.usage.count, 2);
  });

  test("a key names one request of one end user: another request under it is refused, another end user's is their own", async () => {
    // Arrange
    const app = await setup("api_key_scope", { limit: 10 });
    const [ada, bob] = [await customer(app), await customer(app)];
    const headers = { "Idempotency-Key": "shared-1" };
    await track(app, ada.id, { headers });

    // Act
    const reused = await track(app, ada.id, { headers, cost: 2 });
    const bobs = await track(app, bob.id, { headers });

    // Assert
    assert.equal(reused.status, 422, reused.text);
    assert.equal(reused.body.code, "idempotency_key_reused");
    assert.equal(bobs.status, 200);
    assert.equal(bobs.body.usage.count, 1);
    const usage = await app.server("GET", "/api/usage", { headers: { "X-User-Id": ada.id } });
    assert.equal(usage.body.count, 1, "the refused request counted nothing");
  });

  test("a new period starts at zero without any job", async () => {
    const app = await setup("api_period", { limit: 2 });
    const cus = await customer(app);
    const november = Date.UTC(2026, 10, 20);
    const december = Date.UTC(2026, 11, 1, 0, 0, 1);
    await track(app, cus.id, { headers: { "X-Tollgate-Dev-Now": String(november) } });
    await track(app, cus.id, { headers: { "X-Tollgate-Dev-Now": String(november) } });

    const refusedInNovember = await track(app, cus.id, { headers: { "X-Tollgate-Dev-Now": String(november) } });
    const december1 = await track(app, cus.id, { headers: { "X-Tollgate-Dev-Now": String(december) } });

    assert.equal(refusedInNovember.status, 429);
    assert.equal(december1.status, 200);
    assert.equal(december1.body.usage.count, 1);
    assert.equal(december1.body.usage.periodStart, "2026-12-01T00:00:00.000Z");
  });

  test("the plan comes from records: headers and body naming a plan change nothing", async () => {
    const app = await setup("api_plan_spoof", { limit: 1 });
    const cus = await customer(app);
    await track(app, cus.id);

    const spoofed = await app.server("POST", "/api/data", {
      headers: { "X-User-Id": cus.id, "X-User-Plan": "pro", "X-Plan": "pro" },
    });
    const inBody = await app.server("POST", "/api/data", { headers: { "X-User-Id": cus.id }, body: { cost: 1, plan: "pro" } });

    assert.equal(spoofed.status, 429);
    assert.equal(spoofed.body.usage.plan, "free");
    assert.equal(inBody.status, 400, "unknown body fields are refused");
  });

  test("changing the plan keeps the usage and applies the new limit", async () => {
    const app = await setup("api_plan_change", { limit: 1 });
    const cus = await customer(app);
    await track(app, cus.id);

    const upgraded = await app.server("PATCH", `/api/customers/${cus.id}`, { body: { plan: "pro" } });
    const next = await track(app, cus.id);

    assert.equal(upgraded.status, 200);
    assert.equal(upgraded.body.customer.plan, "pro");
    assert.equal(next.status, 200);
    assert.equal(next.body.usage.count, 2, "usage was not reset");
    assert.equal(next.body.usage.limit, "unlimited");
  });

  test("an active subscription's tier and period decide the allowance", async () => {
    const app = await setup("api_subscribed", { limit: 1, proLimit: 3 });
    const cus = await customer(app);
    const db = await stack.d1();
    const tier = await db.prepare("SELECT id FROM tiers WHERE project_id = ?1 AND name = 'pro'").bind(app.project.id).first();
    const start = Date.now() - 86_400_000;
    await db
      .prepare(
        "INSERT INTO subscriptions (id, project_id, end_user_id, tier_id, plan, stripe_subscription_id, stripe_customer_id, status, amount, currency, interval, " +
          "current_period_start, current_period_end, stripe_event_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'pro', ?5, 'cus_stripe', 'active', 1900, 'usd', 'month', ?6, ?7, ?6, ?6, ?6)",
      )
      .bind(`subr_${counter}`, app.project.id, cus.id, tier.id, `sub_${counter}`, start, start + 30 * 86_400_000)
      .run();

    const res = await track(app, cus.id, { cost: 3 });

    assert.equal(res.status, 200);
    assert.equal(res.body.usage.plan, "pro");
    assert.equal(res.body.usage.limit, 3);
    assert.equal(Date.parse(res.body.usage.periodStart), start);
  });

  test("a project without a tier for the end user answers 409 plan_not_configured, naming the route that creates one", async () => {
    const dev = await signIn(stack, "api_no_tiers");
    const { secretKey } = await createProject(dev);
    const server = (method, path, opts = {}) =>
      stack.call("api", method, path, { ...opts, headers: { Authorization: `Bearer ${secretKey}`, ...(opts.headers ?? {}) } });
    const created = await server("POST", "/api/customers", { body: { email: "x@example.test" } });

    const res = await server("POST", "/api/data", { headers: { "X-User-Id": created.body.data.id } });

    assert.equal(res.status, 409);
    assert.equal(res.body.code, "plan_not_configured");
    assert.match(res.body.error, /POST \/v1\/projects\/\{id\}\/tiers with price 0/);
  });

  test("an unknown end user answers 404 and a missing X-User-Id 422", async () => {
    const app = await setup("api_unknown_user");

    const unknown = await track(app, "cus_nobody");
    const missing = await app.server("POST", "/api/data");

    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, "unknown_end_user");
    assert.equal(missing.status, 422);
  });
});

describe("end-user tokens", () => {
  test("a browser meters its own end user with the publishable key and a minted token", async () => {
    const app = await setup("api_browser");
    const cus = await customer(app, { externalId: "user-7" });
    const minted = await app.server("POST", "/api/customer-token", { body: { userId: "user-7", expiresIn: 600 } });

    const res = await app.browser("POST", "/api/data", { headers: { "X-End-User-Token": minted.body.data.token } });
    const viaClerkHeader = await app.browser("GET", "/api/usage", { headers: { "X-Clerk-Token": minted.body.data.token } });

    assert.equal(minted.status, 200);
    assert.equal(minted.body.data.customerId, cus.id);
    assert.equal(res.status, 200);
    assert.equal(res.body.usage.count, 1);
    assert.equal(viaClerkHeader.body.userId, cus.id);
  });

  test("missing, tampered, expired, revoked and foreign tokens answer 401", async () => {
    const app = await setup("api_tokens");
    const other = await setup("api_tokens_other");
    const cus = await customer(app);
    const theirs = await customer(other);
    const mint = async (target, userId, extra = {}) =>
      (await target.server("POST", "/api/customer-token", { body: { userId, ...extra } })).body.data.token;
    const valid = await mint(app, cus.id);
    const foreign = await mint(other, theirs.id);
    const shortLived = await mint(app, cus.id, { expiresIn: 1 });
    const [payload, signature] = valid.slice(4).split(".");
    const claims = JSON.parse(Buffer.from(payload, "base64url"));
    const tampered = `eut_${Buffer.from(JSON.stringify({ ...claims, u: theirs.id })).toString("base64url")}.${signature}`;

    const cases = [
      [{}, "missing"],
      [{ "X-End-User-Token": "garbage" }, "garbage"],
      [{ "X-End-User-Token": tampered }, "tampered"],
      [{ "X-End-User-Token": foreign }, "another project's"],
      [{ "X-End-User-Token": shortLived, "X-Tollgate-Dev-Now": String(Date.now() + 5_000) }, "expired"],
    ];
    for (const [headers, what] of cases) {
      const res = await app.browser("POST", "/api/data", { headers });
      assert.equal(res.status, 401, what);
      assert.equal(res.body.code, "invalid_end_user_token", what);
    }
    await app.server("DELETE", `/api/customers/${cus.id}`);
    const revoked = await app.browser("POST", "/api/data", { headers: { "X-End-User-Token": valid } });
    assert.ok([401, 404].includes(revoked.status), "a deleted end user's token no longer works");
  });

  test("a server in dream-api's backend mode names the end user by their token alone (sk + X-Clerk-Token, no X-User-Id)", async () => {
    const app = await setup("api_backend_mode");
    const cus = await customer(app, { externalId: "clerk-user-9" });
    const token = (await app.server("POST", "/api/customer-token", { body: { userId: cus.id } })).body.data.token;
    const headers = { "X-Clerk-Token": token, "X-Publishable-Key": app.project.publishableKey };

    const counted = await app.server("POST", "/api/data", { headers });
    const usage = await app.server("GET", "/api/usage", { headers });
    const agreeing = await app.server("GET", "/api/usage", { headers: { ...headers, "X-User-Id": "clerk-user-9" } });

    assert.deepEqual([counted.status, counted.body.usage.count], [200, 1]);
    assert.deepEqual([usage.status, usage.body.userId, usage.body.count], [200, cus.id, 1]);
    assert.deepEqual([agreeing.status, agreeing.body.userId], [200, cus.id], "X-User-Id by externalId agrees with the token");
  });

  test("with a secret key, an X-User-Id that disagrees with the end-user token, or a bad token, is refused and counts nothing", async () => {
    const app = await setup("api_backend_mismatch");
    const cus = await customer(app);
    const other = await customer(app);
    const token = (await app.server("POST", "/api/customer-token", { body: { userId: cus.id } })).body.data.token;
    const cases = [
      [{ "X-Clerk-Token": token, "X-User-Id": other.id }, 422, "validation_failed", "another end user"],
      [{ "X-Clerk-Token": "eut_garbage.x" }, 401, "invalid_end_user_token", "a bad token"],
      [{ "X-Clerk-Token": token, "X-User-Id": "nobody" }, 422, "validation_failed", "an unknown X-User-Id"],
      [{}, 422, "validation_failed", "neither"],
    ];

    for (const [headers, status, code, what] of cases) {
      const res = await app.server("POST", "/api/data", { headers });
      assert.deepEqual([res.status, res.body.code], [status, code], what);
    }
    const counts = await Promise.all([cus, other].map(async (c) => (await track(app, c.id, { cost: 0 })).body.usage.count));
    assert.deepEqual(counts, [0, 0], "nothing was counted");
  });

  test("tokens live at most an hour", async () => {
    const app = await setup("api_token_life");
    const cus = await customer(app);

    const res = await app.server("POST", "/api/customer-token", { body: { userId: cus.id, expiresIn: 7200 } });

    assert.equal(res.status, 422);
    assert.ok(res.body.fieldErrors.expiresIn);
  });
});

describe("customers", () => {
  test("create, read, search by email, update and delete", async () => {
    const app = await setup("api_customers");
    const created = await app.server("POST", "/api/customers", {
      body: { email: "Ann@Example.com", externalId: "ann-1", firstName: "Ann", lastName: "Lee", password: "never-stored" },
    });
    const id = created.body.data.id;

    const byId = await app.server("GET", `/api/customers/${id}`);
    const byExternal = await app.server("GET", "/api/customers/ann-1");
    const search = await app.server("GET", "/api/customers?email=ann@example.com");
    const updated = await app.server("PATCH", `/api/customers/${id}`, { body: { plan: "pro", email: "ann@new.example" } });
    const deleted = await app.server("DELETE", `/api/customers/${id}`);
    const gone = await app.server("GET", `/api/customers/${id}`);

    assert.equal(created.status, 201);
    assert.equal(created.body.customer.email, "Ann@example.com");
    assert.equal(created.body.customer.publishableKey, app.project.publishableKey);
    assert.ok(!created.text.includes("never-stored"));
    assert.equal(byId.body.data.id, id);
    assert.equal(byExternal.body.data.id, id);
    assert.deepEqual(search.body.data.map((c) => c.id), [id]);
    assert.equal(updated.body.data.plan, "pro");
    assert.equal(updated.body.data.email, "ann@new.example");
    assert.equal(deleted.body.deleted.id, id);
    assert.equal(gone.status, 404);
  });

  test("deleting a customer removes their usage", async () => {
    const app = await setup("api_delete_usage");
    const cus = await customer(app);
    await track(app, cus.id);

    await app.server("DELETE", `/api/customers/${cus.id}`);

    const db = await stack.d1();
    const { n } = await db.prepare("SELECT COUNT(*) AS n FROM usage_counters WHERE end_user_id = ?1").bind(cus.id).first();
    assert.equal(n, 0);
  });

  test("invalid customers are refused with every field named, and nothing is created", async () => {
    const app = await setup("api_customer_bad");
    const cases = [
      [{}, ["email"]],
      [{ email: "not-an-email" }, ["email"]],
      [{ email: "a@b.example", plan: "enterprise" }, ["plan"]],
      [{ email: "a@b.example", plan: "Not A Slug" }, ["plan"]],
      [{ email: "a@b.example", externalId: "" }, ["externalId"]],
    ];
    for (const [body, fields] of cases) {
      const res = await app.server("POST", "/api/customers", { body });
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(Object.keys(res.body.fieldErrors).sort(), fields);
    }
    assert.equal((await app.server("GET", "/api/customers")).body.total, 0);
  });

  test("an external id is unique within a project", async () => {
    const app = await setup("api_customer_dup");
    await customer(app, { externalId: "same" });

    const again = await app.server("POST", "/api/customers", { body: { email: "b@example.test", externalId: "same" } });

    assert.equal(again.status, 409);
    assert.equal(again.body.code, "duplicate_external_id");
  });
});

describe("lanes and isolation", () => {
  test("a publishable key may not reach secret-key routes", async () => {
    const app = await setup("api_pk_forbidden");
    const cus = await customer(app);

    const attempts = [
      await app.browser("GET", "/api/customers"),
      await app.browser("POST", "/api/customers", { body: { email: "x@example.test" } }),
      await app.browser("GET", `/api/customers/${cus.id}`),
      await app.browser("POST", "/api/customer-token", { body: { userId: cus.id } }),
    ];

    for (const res of attempts) {
      assert.equal(res.status, 403);
      assert.equal(res.body.code, "forbidden");
    }
  });

  test("another project's customers are invisible on every route", async () => {
    const mine = await setup("api_iso_mine");
    const theirs = await setup("api_iso_theirs");
    const victim = await customer(theirs, { externalId: "victim" });

    const attempts = [
      await mine.server("GET", `/api/customers/${victim.id}`),
      await mine.server("GET", "/api/customers/victim"),
      await mine.server("PATCH", `/api/customers/${victim.id}`, { body: { plan: "pro" } }),
      await mine.server("DELETE", `/api/customers/${victim.id}`),
      await mine.server("POST", "/api/customer-token", { body: { userId: victim.id } }),
      await track(mine, victim.id),
      await mine.server("GET", "/api/usage", { headers: { "X-User-Id": victim.id } }),
    ];

    for (const res of attempts) assert.equal(res.status, 404, res.text);
    assert.equal((await mine.server("GET", "/api/customers")).body.total, 0);
    assert.equal((await theirs.server("GET", `/api/customers/${victim.id}`)).body.data.plan, null);
  });
});

describe("the public catalog", () => {
  test("tiers and products answer in dream-api's shapes with either key", async () => {
    const app = await setup("api_catalog");
    const db = await stack.d1();
    await db
      .prepare(
        "INSERT INTO products (id, project_id, name, display_name, price, inventory, created_at, updated_at) VALUES ('prod_c1', ?1, 'ebook', 'E-book', 900, 0, 1, 1)",
      )
      .bind(app.project.id)
      .run();

    const viaPublishable = await app.browser("GET", "/api/tiers");
    const viaSecret = await app.server("GET", "/api/tiers");
    const products = await app.browser("GET", "/api/products");

    assert.deepEqual(viaPublishable.body, viaSecret.body);
    const [free, pro] = viaPublishable.body.tiers;
    assert.deepEqual([free.name, free.limit, free.features, free.isDefault], ["free", 5, ["basic"], true]);
    assert.deepEqual([pro.name, pro.limit, pro.price, pro.popular], ["pro", "unlimited", 1900, true]);
    assert.deepEqual(products.body.products.map((p) => [p.name, p.price, p.soldOut]), [["ebook", 900, true]]);
  });

  test("a project's catalog is its own", async () => {
    const app = await setup("api_catalog_iso");
    const dev = await signIn(stack, "api_catalog_empty");
    const { project } = await createProject(dev);

    const res = await stack.call("api", "GET", "/api/tiers", { headers: { "X-Publishable-Key": project.publishableKey } });

    assert.deepEqual(res.body, { tiers: [] });
    assert.equal((await app.browser("GET", "/api/tiers")).body.tiers.length, 2);
  });
});

describe("live mode and rate limits", () => {
  test("live keys fail closed while the developer's subscription is not active; test keys always work", async () => {
    const dev = await signIn(stack, "api_live_gate");
    const live = await createProject(dev, { mode: "live" });
    const test_ = await createProject(dev, { mode: "test" });
    const whoami = (secretKey) => stack.call("api", "GET", "/api/project", { headers: { Authorization: `Bearer ${secretKey}` } });

    const lapsed = await whoami(live.secretKey);
    const inTest = await whoami(test_.secretKey);
    const db = await stack.d1();
    await db.prepare("UPDATE platforms SET billing_status = 'active' WHERE subject = 'api_live_gate'").run();
    const second = await signIn(stack, "api_live_gate_fresh");
    const fresh = await createProject(second, { mode: "live" });
    await db.prepare("UPDATE platforms SET billing_status = 'trialing' WHERE subject = 'api_live_gate_fresh'").run();
    const paying = await whoami(fresh.secretKey);

    assert.equal(lapsed.status, 403);
    assert.equal(lapsed.body.code, "live_mode_inactive");
    assert.equal(inTest.status, 200);
    assert.equal(paying.status, 200);
  });

  test("a key over its rate limit answers 429 with Retry-After, and the next second it works again", async () => {
    const app = await setup("api_rate");
    const db = await stack.d1();
    await db.prepare("UPDATE projects SET rate_limit_secret = 5 WHERE id = ?1").bind(app.project.id).run();
    const second = Math.ceil(Date.now() / 1000) * 1000 + 5_000;
    const at = (ms) => ({ headers: { "X-Tollgate-Dev-Now": String(ms) } });

    const burst = await Promise.all(Array.from({ length: 12 }, () => app.server("GET", "/api/tiers", at(second))));
    const next = await app.server("GET", "/api/tiers", at(second + 1_000));

    const limited = burst.filter((r) => r.status === 429);
    assert.equal(burst.filter((r) => r.status === 200).length, 5);
    assert.equal(limited.length, 7);
    assert.ok(limited.every((r) => r.body.code === "rate_limited" && r.headers.get("retry-after") === "1"));
    assert.equal(next.status, 200);
  });
});

describe("a project's own identity provider", () => {
  test("its RS256 JWTs meter the end user named by sub; other tokens are refused", async () => {
    const app = await setup("api_idp");
    const cus = await customer(app, { externalId: "idp-user-1" });
    const jwksUrl = `${stack.urls.platform}/.well-known/jwks.json`;
    const configured = await app.dev.call("PUT", `/v1/projects/${app.project.id}/end-user-auth`, {
      body: { issuer: "https://idp.example", jwksUrl, audience: "shop-app" },
    });
    const mint = (overrides) => devToken(stack, { sub: "idp-user-1", iss: "https://idp.example", aud: "shop-app", ...overrides });

    const counted = await app.browser("POST", "/api/data", { headers: { "X-End-User-Token": await mint({}) } });
    const refusals = [
      await app.browser("POST", "/api/data", { headers: { "X-End-User-Token": await mint({ aud: "other-app" }) } }),
      await app.browser("POST", "/api/data", { headers: { "X-End-User-Token": await mint({ iss: "https://evil.example" }) } }),
      await app.browser("POST", "/api/data", { headers: { "X-End-User-Token": await mint({ expiresIn: -300 }) } }),
      await app.browser("POST", "/api/data", { headers: { "X-End-User-Token": await devToken(stack, { sub: "idp-user-1" }) } }),
    ];
    const unknownUser = await app.browser("POST", "/api/data", { headers: { "X-End-User-Token": await mint({ sub: "stranger" }) } });

    assert.equal(configured.status, 200);
    assert.deepEqual(configured.body.data.endUserAuth, { issuer: "https://idp.example", jwksUrl, audience: "shop-app" });
    assert.equal(counted.status, 200);
    assert.equal(counted.body.usage.count, 1);
    for (const res of refusals) {
      assert.equal(res.status, 401);
      assert.equal(res.body.code, "invalid_end_user_token");
    }
    assert.equal(unknownUser.status, 404);
    const trail = await app.dev.call("GET", `/v1/projects/${app.project.id}/audit`);
    assert.equal(trail.body.data[0].action, "project.end_user_auth_changed");
  });

  test("another project does not accept them, and plain http issuers are refused outside local URLs", async () => {
    const app = await setup("api_idp_other");
    await customer(app, { externalId: "idp-user-1" });
    const token = await devToken(stack, { sub: "idp-user-1", iss: "https://idp.example", aud: "shop-app" });

    const unconfigured = await app.browser("POST", "/api/data", { headers: { "X-End-User-Token": token } });
    const insecure = await app.dev.call("PUT", `/v1/projects/${app.project.id}/end-user-auth`, {
      body: { issuer: "http://idp.example", jwksUrl: "http://idp.example/jwks", audience: "shop-app" },
    });

    assert.equal(unconfigured.status, 401);
    assert.equal(insecure.status, 422);
    assert.deepEqual(Object.keys(insecure.body.fieldErrors).sort(), ["issuer", "jwksUrl"]);
  });
});
