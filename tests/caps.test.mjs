// Per-tenant caps and the bounds around them: projects per developer, end users, catalog
// items and assets per project; developer rate limits on the platform, catalog and webhooks
// workers; deep pages refused; and a project's own JWKS URL held to the webhook host rules,
// fetched without redirects, within a size cap and a per-project fetch budget. Caps are
// lowered through the stack's variables; every refusal is checked to have written nothing.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { createProject, devToken, signIn, uploadAsset } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");
const RATE = 20;

let stack;
before(async () => {
  stack = await testStack({
    vars: {
      LIMIT_PROJECTS_PER_DEVELOPER: "2",
      LIMIT_END_USERS_PER_TEST_PROJECT: "2",
      LIMIT_CATALOG_ITEMS_PER_TEST_PROJECT: "2",
      LIMIT_ASSETS_PER_PROJECT: "2",
      LIMIT_ASSET_BYTES_PER_PROJECT: "1000",
      DEVELOPER_RATE_LIMIT: String(RATE),
    },
  });
});
after(() => stack?.stop());

const count = async (sql, ...params) => (await (await stack.d1()).prepare(sql).bind(...params).first()).n;

/** Asserts a 422 `limit_exceeded` answer naming `cap`. */
function assertCapped(res, cap) {
  assert.equal(res.status, 422, res.text);
  assert.equal(res.body.code, "limit_exceeded");
  assert.match(res.body.error, new RegExp(`\\(${cap}\\)`));
}

/** A developer with one test project, calling the api worker with its secret key. */
async function project(sub, body = {}) {
  const dev = await signIn(stack, sub);
  const created = await createProject(dev, { name: sub, ...body });
  const server = (method, path, options = {}) =>
    stack.call("api", method, path, { ...options, headers: { Authorization: `Bearer ${created.secretKey}`, ...(options.headers ?? {}) } });
  return { dev, ...created, server };
}

describe("per-tenant caps", () => {
  test("a developer creates projects up to the cap; the next is refused with limit_exceeded and creates nothing", async () => {
    const dev = await signIn(stack, "cap_projects");
    await createProject(dev, { name: "one" });
    await createProject(dev, { name: "two" });
    const platformId = (await dev.call("GET", "/v1/platform")).body.data.id;
    const before = await count("SELECT COUNT(*) AS n FROM audit_events WHERE platform_id = ?1", platformId);

    const third = await dev.call("POST", "/v1/projects", { body: { name: "three", type: "saas" } });

    assertCapped(third, "projectsPerDeveloper");
    assert.equal(await count("SELECT COUNT(*) AS n FROM projects WHERE platform_id = ?1", platformId), 2);
    assert.equal(await count("SELECT COUNT(*) AS n FROM api_keys k JOIN projects p ON p.id = k.project_id WHERE p.platform_id = ?1", platformId), 2);
    assert.equal(await count("SELECT COUNT(*) AS n FROM audit_events WHERE platform_id = ?1", platformId), before);
  });

  test("a test project takes end users up to the cap; the next is refused and nothing is written", async () => {
    const app = await project("cap_users");
    for (const email of ["a@example.test", "b@example.test"]) {
      assert.equal((await app.server("POST", "/api/customers", { body: { email } })).status, 201);
    }

    const third = await app.server("POST", "/api/customers", { body: { email: "c@example.test", externalId: "c" } });

    assertCapped(third, "endUsersPerTestProject");
    assert.equal(await count("SELECT COUNT(*) AS n FROM end_users WHERE project_id = ?1", app.project.id), 2);
  });

  test("a test project takes tiers up to the cap; the next is refused before Stripe is asked and nothing is stored", async () => {
    const dev = await signIn(stack, "cap_items");
    const { project: p } = await createProject(dev, { name: "items" });
    const { connection } = await connectStripe(stack, dev, "test");
    const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
    const tier = (name) => ({ name, displayName: name, price: 900, limit: 100 });
    for (const name of ["basic", "pro"]) {
      assert.equal((await catalog("POST", `/v1/projects/${p.id}/tiers`, tier(name))).status, 201);
    }

    const third = await catalog("POST", `/v1/projects/${p.id}/tiers`, tier("max"));

    assertCapped(third, "catalogItemsPerTestProject");
    assert.equal(await count("SELECT COUNT(*) AS n FROM tiers WHERE project_id = ?1", p.id), 2);
    assert.equal(await count("SELECT COUNT(*) AS n FROM audit_events WHERE target_type = 'tier' AND project_id = ?1", p.id), 2);
    const products = await stripeApi(stack, "GET", "/v1/products?limit=100", { account: connection.accountId });
    assert.deepEqual(products.body.data.map((product) => product.name).sort(), ["basic", "pro"]);
  });

  test("a project holds assets up to the count cap and the byte cap; an upload past either is refused and stores nothing", async () => {
    const counted = await project("cap_assets");
    const sized = await project("cap_bytes");
    const file = (size) => Buffer.concat([PNG, Buffer.alloc(size - PNG.length)]);
    const upload = (app, bytes) =>
      fetch(`${stack.urls.api}/api/assets?filename=f.png&visibility=public`, { method: "POST", headers: { Authorization: `Bearer ${app.secretKey}` }, body: bytes });
    await uploadAsset(stack, counted, file(100), { filename: "a.png", visibility: "public" });
    await uploadAsset(stack, counted, file(100), { filename: "b.png", visibility: "public" });
    await uploadAsset(stack, sized, file(600), { filename: "big.png", visibility: "public" });

    const byCount = await upload(counted, file(100));
    const byBytes = await upload(sized, file(600));

    for (const [res, cap] of [
      [byCount, "assetsPerProject"],
      [byBytes, "assetBytesPerProject"],
    ]) {
      const body = await res.json();
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(body.code, "limit_exceeded");
      assert.match(body.error, new RegExp(`\\(${cap}\\)`));
    }
    assert.equal(await count("SELECT COUNT(*) AS n FROM assets WHERE project_id = ?1", counted.project.id), 2);
    assert.equal(await count("SELECT COUNT(*) AS n FROM assets WHERE project_id = ?1", sized.project.id), 1);
    const listed = await (await stack.r2()).list({ prefix: "" });
    const keys = listed.objects.map((o) => o.key);
    assert.equal(keys.filter((k) => k.includes(counted.project.id)).length, 2);
    assert.equal(keys.filter((k) => k.includes(sized.project.id)).length, 1);
  });
});

describe("developer rate limits", () => {
  test("each developer worker answers a developer past their requests per second with 429 and Retry-After; another developer is unaffected", async () => {
    const dev = await signIn(stack, "rate_dev");
    const other = await signIn(stack, "rate_other");
    const { project: p } = await createProject(dev, { name: "rated" });
    const cases = [
      ["platform", "/v1/projects"],
      ["catalog", `/v1/projects/${p.id}/tiers`],
      ["webhooks", `/v1/projects/${p.id}/webhook-endpoints`],
    ];
    // Every request of a case is judged in one second, so the count is exact.
    let second = Math.ceil(Date.now() / 1000) * 1000 + 5_000;
    for (const [worker, path] of cases) {
      second += 1_000;
      const as = (who) => stack.call(worker, "GET", path, { headers: { Authorization: `Bearer ${who.token}`, "X-Tollgate-Dev-Now": String(second) } });

      const burst = await Promise.all(Array.from({ length: RATE + 6 }, () => as(dev)));
      const bystander = await as(other);

      const limited = burst.filter((r) => r.status === 429);
      assert.equal(burst.filter((r) => r.status === 200).length, RATE, worker);
      assert.equal(limited.length, 6, worker);
      assert.ok(limited.every((r) => r.body.code === "rate_limited" && r.headers.get("retry-after") === "1"), worker);
      assert.equal(bystander.status, worker === "platform" ? 200 : 404, worker);
    }
  });
});

describe("deep pages", () => {
  test("a page past ten thousand rows is refused with a fieldError on page, on every worker's lists", async () => {
    const app = await project("deep_pages");
    const dev = (worker, path) => stack.call(worker, "GET", path, { headers: { Authorization: `Bearer ${app.dev.token}` } });
    const cases = [
      () => dev("platform", "/v1/projects?page=501&pageSize=20"),
      () => dev("platform", `/v1/projects/${app.project.id}/keys?page=101&pageSize=100`),
      () => dev("catalog", `/v1/projects/${app.project.id}/tiers?page=10001`),
      () => dev("webhooks", `/v1/projects/${app.project.id}/webhook-endpoints?page=1000000&pageSize=100`),
      () => app.server("GET", "/api/customers?page=201&pageSize=50"),
    ];

    for (const call of cases) {
      const res = await call();
      assert.equal(res.status, 422, res.text);
      assert.equal(res.body.code, "validation_failed");
      assert.deepEqual(Object.keys(res.body.fieldErrors), ["page"]);
    }
    const deepest = await dev("platform", "/v1/projects?page=500&pageSize=20");
    assert.equal(deepest.status, 200);
    assert.deepEqual([deepest.body.data, deepest.body.total, deepest.body.page], [[], 1, 500]);
  });

  test("keys and catalog items are paged by the database with the list's full total", async () => {
    const dev = await signIn(stack, "paged_lists");
    const { project: p } = await createProject(dev, { name: "paged" });
    for (let i = 0; i < 2; i++) assert.equal((await dev.call("POST", `/v1/projects/${p.id}/keys/rotate`, { body: {} })).status, 201);
    await connectStripe(stack, dev, "test");
    const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });
    await catalog("POST", `/v1/projects/${p.id}/tiers`, { name: "free", displayName: "Free", price: 0, limit: 10 });
    await catalog("POST", `/v1/projects/${p.id}/tiers`, { name: "pro", displayName: "Pro", price: 900, limit: 100 });

    const keys = await dev.call("GET", `/v1/projects/${p.id}/keys?page=2&pageSize=2`);
    const tiers = await catalog("GET", `/v1/projects/${p.id}/tiers?page=2&pageSize=1`);

    assert.deepEqual([keys.body.data.length, keys.body.total, keys.body.page, keys.body.pageSize], [1, 3, 2, 2]);
    const newest = (await dev.call("GET", `/v1/projects/${p.id}/keys?pageSize=3`)).body.data.map((k) => k.id);
    assert.equal(keys.body.data[0].id, newest[2]);
    assert.deepEqual([tiers.body.data.map((t) => t.name), tiers.body.total], [["pro"], 2]);
  });
});

/**
 * A local identity provider: `/jwks` serves the development issuer's keys; `/redirect`
 * answers 302 to `/jwks`; `/big` serves them padded past 64 KiB (`?chunked` without a
 * length); `/fail` answers 500. `hits` counts requests per path.
 */
async function identityProvider() {
  const jwks = (await stack.call("platform", "GET", "/.well-known/jwks.json")).body;
  const hits = {};
  const server = createServer((req, res) => {
    const { pathname, searchParams } = new URL(req.url, "http://x");
    hits[pathname] = (hits[pathname] ?? 0) + 1;
    if (pathname === "/jwks") return res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(jwks));
    if (pathname === "/redirect") return res.writeHead(302, { Location: "/jwks" }).end();
    if (pathname === "/big") {
      const body = JSON.stringify({ ...jwks, padding: "x".repeat(70 * 1024) });
      if (!searchParams.has("chunked")) return res.writeHead(200, { "Content-Type": "application/json" }).end(body);
      res.writeHead(200, { "Content-Type": "application/json" });
      for (let i = 0; i < body.length; i += 8192) res.write(body.slice(i, i + 8192));
      return res.end();
    }
    res.writeHead(500).end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, hits, close: () => new Promise((r) => server.close(r)) };
}

describe("a project's own JWKS URL", () => {
  let idp;
  before(async () => {
    idp = await identityProvider();
  });
  after(() => idp?.close());

  /** A project trusting `jwksUrl` for end-user tokens, with one end user `u1` on a free tier. */
  async function trusting(sub, jwksUrl) {
    const app = await project(sub);
    await (await stack.d1())
      .prepare("INSERT INTO tiers (id, project_id, name, display_name, price, usage_limit, is_default, created_at, updated_at) VALUES (?1, ?2, 'free', 'Free', 0, 100, 1, 0, 0)")
      .bind(`tier_${sub}`, app.project.id)
      .run();
    assert.equal((await app.server("POST", "/api/customers", { body: { email: `${sub}@example.test`, externalId: "u1" } })).status, 201);
    const set = await app.dev.call("PUT", `/v1/projects/${app.project.id}/end-user-auth`, { body: { issuer: "https://idp.example", jwksUrl, audience: "app" } });
    assert.equal(set.status, 200, set.text);
    const meter = async (headers = {}, token) =>
      stack.call("api", "POST", "/api/data", {
        headers: { "X-Publishable-Key": app.project.publishableKey, "X-End-User-Token": token ?? (await devToken(stack, { sub: "u1", iss: "https://idp.example", aud: "app" })), ...headers },
      });
    // What was metered, once the counter objects have flushed to the ledger.
    const used = async () => {
      await stack.settleMeters(app.project.id);
      return count("SELECT COALESCE(SUM(count), 0) AS n FROM usage_counters WHERE project_id = ?1", app.project.id);
    };
    return { ...app, meter, used };
  }

  test("a private, link-local, metadata or plain-http JWKS URL is refused at save time with a fieldError, and nothing is saved", async () => {
    const app = await project("jwks_hosts");
    const urls = [
      "https://10.0.0.5/jwks",
      "https://192.168.1.1/.well-known/jwks.json",
      "https://169.254.169.254/latest/meta-data",
      "https://[fd00::1]/jwks",
      "https://2130706433/jwks",
      "http://idp.example.com/jwks",
    ];

    for (const jwksUrl of urls) {
      const res = await app.dev.call("PUT", `/v1/projects/${app.project.id}/end-user-auth`, { body: { issuer: "https://idp.example", jwksUrl, audience: "app" } });
      assert.equal(res.status, 422, jwksUrl);
      assert.deepEqual(Object.keys(res.body.fieldErrors), ["jwksUrl"], jwksUrl);
    }
    assert.equal((await app.dev.call("GET", `/v1/projects/${app.project.id}`)).body.data.endUserAuth, null);
    assert.equal(await count("SELECT COUNT(*) AS n FROM audit_events WHERE project_id = ?1 AND action = 'project.end_user_auth_changed'", app.project.id), 0);
  });

  test("a JWKS that redirects is not followed: the token is refused and nothing is metered", async () => {
    const direct = await trusting("jwks_direct", `${idp.url}/jwks`);
    const redirected = await trusting("jwks_redirect", `${idp.url}/redirect`);
    const followed = idp.hits["/jwks"] ?? 0;

    const control = await direct.meter();
    const refused = await redirected.meter();

    assert.equal(control.status, 200, control.text);
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.body.code, "invalid_end_user_token");
    assert.equal(idp.hits["/redirect"], 1);
    assert.equal(idp.hits["/jwks"], followed + 1, "only the direct project fetched /jwks");
    assert.equal(await redirected.used(), 0);
  });

  test("a JWKS over 64 KiB is refused, with or without a Content-Length, and nothing is metered", async () => {
    for (const path of ["/big", "/big?chunked"]) {
      const app = await trusting(`jwks_big${path.length}`, `${idp.url}${path}`);

      const refused = await app.meter();

      assert.equal(refused.status, 401, `${path}: ${refused.text}`);
      assert.equal(refused.body.code, "invalid_end_user_token");
      assert.equal(await app.used(), 0);
    }
  });

  test("a failing JWKS is fetched at most four times a minute per project, and unknown key ids never fetch per request", async () => {
    const failing = await trusting("jwks_budget", `${idp.url}/fail`);
    const working = await trusting("jwks_kids", `${idp.url}/jwks?kids`);
    const at = { "X-Tollgate-Dev-Now": String(Math.ceil(Date.now() / 60_000) * 60_000 + 1_000) };
    const token = await devToken(stack, { sub: "u1", iss: "https://idp.example", aud: "app" });
    const strangers = await Promise.all(Array.from({ length: 8 }, (_, i) => devToken(stack, { sub: "u1", iss: "https://idp.example", aud: "app", kid: `unknown-${i}` })));
    const before = idp.hits["/jwks"] ?? 0;

    const failed = [];
    for (let i = 0; i < 10; i++) failed.push(await failing.meter(at, token));
    const first = await working.meter(at, token);
    const misses = [];
    for (const stranger of strangers) misses.push(await working.meter(at, stranger));

    assert.ok(failed.every((r) => r.status === 401 && r.body.code === "invalid_end_user_token"));
    assert.equal(idp.hits["/fail"], 4);
    assert.equal(first.status, 200, first.text);
    assert.ok(misses.every((r) => r.status === 401 && r.body.code === "invalid_end_user_token"));
    assert.equal(idp.hits["/jwks"] - before, 1, "one fetch for the first token, none for unknown kids");
    assert.equal(await failing.used(), 0);
  });
});
