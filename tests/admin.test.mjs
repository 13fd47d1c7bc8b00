// The operator's admin lane on the platform worker: only developer identities on
// OPERATOR_SUBJECTS get in; metrics across every developer, the developer directory, and the
// entitlement drift audit and its confirmed repair, arranged on the Stripe sandbox.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

let stack;
let operator;
let counter = 0;

before(async () => {
  stack = await testStack({ vars: { OPERATOR_SUBJECTS: "ops_admin, https://elsewhere.example|ops_other" } });
  operator = await signIn(stack, "ops_admin");
});
after(() => stack?.stop());

const db = async () => stack.d1();
const ADMIN_ROUTES = [
  ["GET", "/v1/admin/metrics"],
  ["GET", "/v1/admin/developers"],
  ["GET", "/v1/admin/drift?platformId=plt_x"],
  ["POST", "/v1/admin/drift/repair", { platformId: "plt_x", dryRun: true }],
];

describe("who may use the admin lane", () => {
  test("a developer who is not an operator gets 403 forbidden on every admin route", async () => {
    const dev = await signIn(stack, "not_an_operator");
    // Same subject, wrong issuer: an `iss|sub` entry allows only its own issuer.
    const impostor = await signIn(stack, "ops_other");
    for (const who of [dev, impostor]) {
      for (const [method, path, body] of ADMIN_ROUTES) {
        const res = await who.call(method, path, { body });
        assert.equal(res.status, 403, `${who.sub} ${method} ${path}: ${res.text}`);
        assert.equal(res.body.code, "forbidden", `${method} ${path}`);
      }
    }
  });

  test("no token answers 401 on every admin route", async () => {
    for (const [method, path, body] of ADMIN_ROUTES) {
      const res = await stack.call("platform", method, path, { body });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.body.code, "missing_credentials", `${method} ${path}`);
    }
  });
});

describe("metrics", () => {
  test("count developers, projects, end users, both MRRs, delivery failures and Stripe outcomes", async () => {
    const before = (await operator.call("GET", "/v1/admin/metrics")).body.data;
    const paying = await signIn(stack, `met_paying`);
    const free = await signIn(stack, `met_free`);
    const saas = await createProject(paying, { name: "m1", type: "saas" });
    await createProject(paying, { name: "m2", type: "store" });
    await createProject(free, { name: "m3", type: "saas" });
    const d = await db();
    const now = Date.now();
    await d.prepare("UPDATE platforms SET billing_status = 'active' WHERE subject = 'met_paying'").run();
    await d.prepare("UPDATE platforms SET billing_status = 'trialing' WHERE subject = 'met_free'").run();
    // The saas project stands in for a live one: subscriptions there count in MRR.
    await d.prepare("UPDATE projects SET mode = 'live' WHERE id = ?1").bind(saas.project.id).run();
    const server = (body) =>
      stack.call("api", "POST", "/api/customers", { headers: { Authorization: `Bearer ${saas.secretKey}` }, body });
    const users = [];
    for (let i = 0; i < 3; i++) {
      const res = await server({ email: `met${i}@example.test` });
      // A live project's key answers only while the developer's plan is active; create via SQL otherwise.
      if (res.status === 201) users.push(res.body.data.id);
    }
    while (users.length < 3) {
      const id = `cus_met${users.length}`;
      await d.prepare("INSERT INTO end_users (id, project_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)").bind(id, saas.project.id, now).run();
      users.push(id);
    }
    const sub = (id, user, status, interval, amount) =>
      d
        .prepare(
          "INSERT INTO subscriptions (id, project_id, end_user_id, plan, stripe_subscription_id, stripe_customer_id, status, amount, currency, interval, stripe_event_at, created_at, updated_at) VALUES (?1, ?2, ?3, 'pro', ?4, 'cus_x', ?5, ?6, 'usd', ?7, ?8, ?8, ?8)",
        )
        .bind(`subr_${id}`, saas.project.id, user, `sub_${id}`, status, amount, interval, now)
        .run();
    await sub("met_m", users[0], "active", "month", 900);
    await sub("met_y", users[1], "active", "year", 12000);
    await sub("met_t", users[2], "trialing", "month", 900);
    await d
      .prepare(
        "INSERT INTO webhook_endpoints (id, project_id, url, secret_enc, secret_last4, created_at, updated_at) VALUES ('whe_met', ?1, 'https://example.test/h', 'x', 'abcd', ?2, ?2)",
      )
      .bind(saas.project.id, now)
      .run();
    const delivery = (n, status) =>
      d
        .prepare(
          "INSERT INTO webhook_deliveries (id, project_id, endpoint_id, event_id, event_type, payload, status, deadline_at, created_at, updated_at) VALUES (?1, ?2, 'whe_met', ?1, 'x', '{}', ?3, ?4, ?4, ?4)",
        )
        .bind(`whd_met${n}`, saas.project.id, status, now)
        .run();
    for (const [n, status] of [[1, "delivered"], [2, "delivered"], [3, "delivered"], [4, "failed"], [5, "pending"]]) await delivery(n, status);
    const event = (n, outcome) =>
      d
        .prepare("INSERT INTO stripe_events (id, type, livemode, created, outcome, received_at) VALUES (?1, 'x', 0, ?2, ?3, ?2)")
        .bind(`evt_met${n}`, now, outcome)
        .run();
    for (const [n, outcome] of [[1, "applied"], [2, "applied"], [3, "stale"]]) await event(n, outcome);

    const res = await operator.call("GET", "/v1/admin/metrics");
    assert.equal(res.status, 200, res.text);
    const m = res.body.data;
    assert.equal(m.developers.total - before.developers.total, 2);
    assert.equal(m.developers.paying - before.developers.paying, 2, "active and trialing both pay");
    const count = (list, where) => list.filter((r) => Object.entries(where).every(([k, v]) => r[k] === v)).reduce((n, r) => n + r.count, 0);
    assert.equal(count(m.projects, { mode: "live", type: "saas" }) - count(before.projects, { mode: "live", type: "saas" }), 1);
    assert.equal(count(m.projects, { mode: "test", type: "store" }) - count(before.projects, { mode: "test", type: "store" }), 1);
    assert.equal(count(m.endUsers.byMode, { mode: "live" }) - count(before.endUsers.byMode, { mode: "live" }), 3);
    // Plan MRR: active developers × the plan's configured amount (2900 by default); trials bring nothing yet.
    const planUsd = (x) => x.planMrr.find((e) => e.currency === "usd")?.amount ?? 0;
    assert.equal(planUsd(m) - planUsd(before), 2900);
    // Projects' MRR: 900 monthly + 12000 / 12 yearly; the trial is not revenue.
    const liveUsd = (x) => x.projectsMrr.find((e) => e.currency === "usd")?.amount ?? 0;
    assert.equal(liveUsd(m) - liveUsd(before), 1900);
    assert.equal(m.liveSubscriptions.active - before.liveSubscriptions.active, 2);
    assert.equal(m.liveSubscriptions.trialing - before.liveSubscriptions.trialing, 1);
    assert.equal(m.webhookDeliveries.windowDays, 30);
    assert.equal(m.webhookDeliveries.delivered - before.webhookDeliveries.delivered, 3);
    assert.equal(m.webhookDeliveries.failed - before.webhookDeliveries.failed, 1);
    assert.equal(m.webhookDeliveries.pending - before.webhookDeliveries.pending, 1);
    if (before.webhookDeliveries.delivered + before.webhookDeliveries.failed === 0) assert.equal(m.webhookDeliveries.failureRate, 0.25);
    const outcome = (x, o) => x.stripeEvents.byOutcome.find((e) => e.outcome === o)?.count ?? 0;
    assert.equal(outcome(m, "applied") - outcome(before, "applied"), 2);
    assert.equal(outcome(m, "stale") - outcome(before, "stale"), 1);
  });
});

describe("developer directory", () => {
  test("searches by id, subject or email prefix, pages, and shows no secrets", async () => {
    const a = await signIn(stack, "dir_alpha");
    await createProject(a, { name: "d1" });
    await signIn(stack, "dir_beta").then((b) => b.call("GET", "/v1/platform"));
    const found = await operator.call("GET", "/v1/admin/developers?q=dir_al");
    assert.equal(found.status, 200, found.text);
    assert.equal(found.body.total, 1);
    const row = found.body.data[0];
    assert.equal(row.subject, "dir_alpha");
    assert.equal(row.email, "dir_alpha@example.test");
    assert.deepEqual(row.projects, { live: 0, test: 1 });
    assert.equal(row.billingStatus, "none");
    const byId = await operator.call("GET", `/v1/admin/developers?q=${row.id}`);
    assert.deepEqual(byId.body.data.map((r) => r.subject), ["dir_alpha"]);
    const byEmail = await operator.call("GET", "/v1/admin/developers?q=DIR_BETA%40example");
    assert.deepEqual(byEmail.body.data.map((r) => r.subject), ["dir_beta"]);
    const both = await operator.call("GET", "/v1/admin/developers?q=dir_&pageSize=1&page=2");
    assert.equal(both.body.total, 2);
    assert.equal(both.body.data.length, 1);
    assert.equal(both.body.data[0].subject, "dir_alpha", "newest first");
    // Wildcards in q are literal.
    assert.equal((await operator.call("GET", "/v1/admin/developers?q=dir%25")).body.total, 0);
    assert.equal((await operator.call("GET", "/v1/admin/developers?q=dir_alph_")).body.total, 0);
    // A long search (D1 refuses LIKE patterns over 50 bytes) is just a search that finds nothing.
    const long = await operator.call("GET", `/v1/admin/developers?q=${"dir_alpha".padEnd(200, "0")}`);
    assert.equal(long.status, 200, long.text);
    assert.equal(long.body.total, 0);
    assert.doesNotMatch(found.text, /sk_(test|live)_|key_hash|whsec_|access_token/);
    const bad = await operator.call("GET", "/v1/admin/developers?pageSize=0");
    assert.equal(bad.status, 422);
  });
});

describe("entitlement drift", () => {
  /** A SaaS project with free (limit 3) and pro (limit 100) tiers and a subscribed end user. */
  async function subscribed(sub) {
    const dev = await signIn(stack, sub);
    const catalog = (method, path, body) =>
      stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
    const { connection } = await connectStripe(stack, dev, "test");
    const account = connection.accountId;
    const { project, secretKey } = await createProject(dev, { name: sub, type: "saas" });
    await catalog("POST", `/v1/projects/${project.id}/tiers`, { name: "free", displayName: "Free", price: 0, limit: 3 });
    const pro = (await catalog("POST", `/v1/projects/${project.id}/tiers`, { name: "pro", displayName: "Pro", price: 900, limit: 100 })).body.data;
    const server = (method, path, options = {}) =>
      stack.call("api", method, path, { ...options, headers: { Authorization: `Bearer ${secretKey}`, ...(options.headers ?? {}) } });
    const user = (await server("POST", "/api/customers", { body: { email: `dr${++counter}@example.test` } })).body.data.id;
    const customer = await stripeApi(stack, "POST", "/v1/customers", { account, form: { email: `dc${counter}@example.test` } });
    const meta = { tollgate_project_id: project.id, tollgate_end_user_id: user, tollgate_tier_id: pro.id };
    const form = {
      mode: "subscription",
      "line_items[0][price]": pro.stripePriceId,
      "line_items[0][quantity]": "1",
      success_url: "https://example.test/ok",
      customer: customer.body.id,
      client_reference_id: user,
    };
    for (const [k, v] of Object.entries(meta)) {
      form[`metadata[${k}]`] = v;
      form[`subscription_data[metadata][${k}]`] = v;
    }
    const session = (await stripeApi(stack, "POST", "/v1/checkout/sessions", { account, form })).body;
    await (await db())
      .prepare(
        "INSERT INTO checkout_sessions (id, project_id, account_id, kind, end_user_id, tier_id, status, expires_at, created_at, updated_at) VALUES (?1, ?2, ?3, 'subscription', ?4, ?5, 'open', ?6, ?7, ?7)",
      )
      .bind(session.id, project.id, account, user, pro.id, session.expires_at * 1000, Date.now())
      .run();
    const done = await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${session.id}/complete`, { account });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const row = await (await db()).prepare("SELECT * FROM subscriptions WHERE end_user_id = ?1").bind(user).first();
    const usage = async () => (await server("GET", "/api/usage", { headers: { "X-User-Id": user } })).body;
    return { dev, project, account, user, row, usage };
  }

  test("a subscription canceled at the provider behind Tollgate's back is found, confirmed and repaired", async () => {
    const app = await subscribed("drift_dev");
    assert.equal((await app.usage()).limit, 100);
    const scope = `projectId=${app.project.id}`;
    const clean = await operator.call("GET", `/v1/admin/drift?${scope}`);
    assert.equal(clean.status, 200, clean.text);
    assert.equal(clean.body.data.checked, 1);
    assert.deepEqual(clean.body.data.drifted, []);

    // Canceled in the sandbox without any event reaching Tollgate.
    const canceledAt = Math.floor(Date.now() / 1000);
    await (await stack.sandboxD1())
      .prepare("UPDATE objects SET body = json_set(body, '$.status', 'canceled', '$.canceled_at', CAST(?2 AS INTEGER)) WHERE id = ?1")
      .bind(app.row.stripe_subscription_id, canceledAt)
      .run();

    const audit = await operator.call("GET", `/v1/admin/drift?${scope}`);
    assert.equal(audit.status, 200, audit.text);
    const [drifted] = audit.body.data.drifted;
    assert.equal(audit.body.data.drifted.length, 1, audit.text);
    assert.equal(drifted.subscriptionId, app.row.stripe_subscription_id);
    assert.equal(drifted.endUserId, app.user);
    assert.deepEqual(drifted.discrepancies, [{ kind: "status_mismatch", local: "active", provider: "canceled" }]);
    assert.equal(drifted.repair.status, "canceled");
    assert.equal(audit.body.data.pageSize, 50);

    const body = { projectId: app.project.id };
    const dry = await operator.call("POST", "/v1/admin/drift/repair", { body: { ...body, dryRun: true } });
    assert.equal(dry.status, 200, dry.text);
    assert.equal(dry.body.data.dryRun, true);
    assert.equal(dry.body.data.repaired, 0);
    assert.deepEqual(dry.body.data.drifted, audit.body.data.drifted);
    const rowAfterDry = await (await db()).prepare("SELECT * FROM subscriptions WHERE id = ?1").bind(app.row.id).first();
    assert.deepEqual(rowAfterDry, app.row, "a dry run changes nothing");
    assert.equal((await app.usage()).limit, 100);

    const wrong = await operator.call("POST", "/v1/admin/drift/repair", { body: { ...body, dryRun: false, confirmation: "0".repeat(32) } });
    assert.equal(wrong.status, 409, wrong.text);
    assert.equal(wrong.body.code, "drift_changed");
    assert.equal((await (await db()).prepare("SELECT status FROM subscriptions WHERE id = ?1").bind(app.row.id).first()).status, "active");

    const missing = await operator.call("POST", "/v1/admin/drift/repair", { body: { ...body, dryRun: false } });
    assert.equal(missing.status, 422);
    assert.ok(missing.body.fieldErrors.confirmation);

    const applied = await operator.call("POST", "/v1/admin/drift/repair", {
      body: { ...body, dryRun: false, confirmation: dry.body.data.confirmation },
    });
    assert.equal(applied.status, 200, applied.text);
    assert.equal(applied.body.data.repaired, 1);
    const repaired = await (await db()).prepare("SELECT * FROM subscriptions WHERE id = ?1").bind(app.row.id).first();
    assert.equal(repaired.status, "canceled");
    assert.equal(repaired.canceled_at, canceledAt * 1000);
    assert.equal(repaired.tier_id, app.row.tier_id);
    const usage = await app.usage();
    assert.equal(usage.plan, "free");
    assert.equal(usage.limit, 3, "the end user falls back to the free tier's limit");

    const audits = await (await db())
      .prepare("SELECT * FROM audit_events WHERE action = 'drift.repaired' AND target_id = ?1")
      .bind(app.row.id)
      .all();
    assert.equal(audits.results.length, 1);
    assert.equal(audits.results[0].actor, "ops_admin");
    assert.equal(audits.results[0].project_id, app.project.id);
    const trail = await app.dev.call("GET", `/v1/projects/${app.project.id}/audit`);
    assert.ok(trail.body.data.some((e) => e.action === "drift.repaired"), "the developer sees the repair in their trail");

    const { platform_id } = await (await db()).prepare("SELECT platform_id FROM projects WHERE id = ?1").bind(app.project.id).first();
    const again = await operator.call("GET", `/v1/admin/drift?platformId=${platform_id}`);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body.data.drifted, []);
    assert.equal(again.body.data.checked, 0, "a canceled subscription is final and no longer audited");
  });

  test("a subscription the provider does not know is missing_at_provider and repairs to canceled", async () => {
    const app = await subscribed("drift_gone");
    await (await stack.sandboxD1()).prepare("DELETE FROM objects WHERE id = ?1").bind(app.row.stripe_subscription_id).run();
    const scope = { projectId: app.project.id };
    const dry = await operator.call("POST", "/v1/admin/drift/repair", { body: { ...scope, dryRun: true } });
    assert.equal(dry.status, 200, dry.text);
    assert.deepEqual(dry.body.data.drifted[0].discrepancies, [{ kind: "missing_at_provider", local: "active", provider: null }]);
    const applied = await operator.call("POST", "/v1/admin/drift/repair", {
      body: { ...scope, dryRun: false, confirmation: dry.body.data.confirmation },
    });
    assert.equal(applied.status, 200, applied.text);
    assert.equal((await app.usage()).limit, 3);
    const second = await operator.call("GET", `/v1/admin/drift?projectId=${app.project.id}`);
    assert.deepEqual(second.body.data.drifted, []);
  });

  test("bad scopes are refused and change nothing", async () => {
    for (const path of ["/v1/admin/drift", "/v1/admin/drift?platformId=a&projectId=b", "/v1/admin/drift?projectId=x&page=0"]) {
      const res = await operator.call("GET", path);
      assert.equal(res.status, 422, path);
    }
    const unknown = await operator.call("GET", "/v1/admin/drift?projectId=prj_nope");
    assert.equal(unknown.status, 404);
    const extra = await operator.call("POST", "/v1/admin/drift/repair", { body: { projectId: "prj_nope", dryRun: true, force: true } });
    assert.equal(extra.status, 400);
  });
});
