// Developers, projects and keys (the platform worker), with the api worker's key lookup:
// sign-in rules, the platform record, project lifecycle, key rotation and revocation, the
// audit trail, idempotency, bad input and tenant isolation — over HTTP, against the real
// local runtime.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createProject, devToken, signIn, whoami } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

describe("the platform worker", () => {
  let stack;
  before(async () => {
    // A short isolate cache so the revocation bound can be observed in seconds, not 30.
    stack = await testStack({ vars: { KEY_CACHE_SECONDS: "2" } });
  });
  after(() => stack?.stop());

  const platformAs = (token) => stack.call("platform", "GET", "/v1/platform", { headers: { Authorization: `Bearer ${token}` } });

  describe("signing in", () => {
    test("a valid development token opens the developer lane", async () => {
      const res = await platformAs(await devToken(stack, { sub: "dev_signin", email: "s@example.test" }));

      assert.equal(res.status, 200);
      assert.match(res.body.data.id, /^plt_/);
      assert.equal(res.body.data.email, "s@example.test");
    });

    test("a missing or garbled bearer answers 401", async () => {
      const cases = [
        [{}, "missing_credentials"],
        [{ Authorization: "" }, "missing_credentials"],
        [{ Authorization: "Basic abc" }, "missing_credentials"],
        [{ Authorization: "Bearer " }, "missing_credentials"],
        [{ Authorization: "Bearer not-a-jwt" }, "invalid_token"],
        [{ Authorization: "Bearer a.b.c" }, "invalid_token"],
        [{ Authorization: `Bearer ${"x".repeat(9000)}` }, "invalid_token"],
      ];
      for (const [headers, code] of cases) {
        const res = await stack.call("platform", "GET", "/v1/platform", { headers });

        assert.equal(res.status, 401, JSON.stringify(headers).slice(0, 80));
        assert.equal(res.body.code, code, JSON.stringify(headers).slice(0, 80));
        assert.equal(res.headers.get("www-authenticate"), "Bearer");
      }
    });

    test("expired, early, foreign and unknown-key tokens are refused with the reason", async () => {
      const cases = [
        [{ expiresIn: -120 }, /expired/],
        [{ notBefore: 300 }, /not valid yet/],
        [{ aud: "someone-else" }, /another audience/],
        [{ aud: ["a", "b"] }, /another audience/],
        [{ iss: "https://evil.example" }, /issuer/],
        [{ kid: "unknown-kid" }, /unknown key/],
      ];
      for (const [overrides, reason] of cases) {
        const res = await platformAs(await devToken(stack, { sub: "dev_badtoken", ...overrides }));

        assert.equal(res.status, 401, JSON.stringify(overrides));
        assert.equal(res.body.code, "invalid_token");
        assert.match(res.body.error, reason, JSON.stringify(overrides));
      }
    });

    test("a token within the 60 s clock-skew leeway is still accepted", async () => {
      const res = await platformAs(await devToken(stack, { sub: "dev_skew", expiresIn: -30 }));

      assert.equal(res.status, 200);
    });

    test("a tampered token fails its signature", async () => {
      const token = await devToken(stack, { sub: "dev_victim" });
      const [head, payload, signature] = token.split(".");
      const claims = JSON.parse(Buffer.from(payload, "base64url"));
      const forged = `${head}.${b64url({ ...claims, sub: "dev_attacker" })}.${signature}`;

      const res = await platformAs(forged);

      assert.equal(res.status, 401);
      assert.match(res.body.error, /signature/);
    });

    test("alg none and HS256 signed with the public key are refused before any key is used", async () => {
      const token = await devToken(stack, { sub: "dev_alg" });
      const [, payload] = token.split(".");
      const jwks = await stack.call("platform", "GET", "/.well-known/jwks.json");
      const publicKey = JSON.stringify(jwks.body.keys[0]);
      const none = `${b64url({ alg: "none", typ: "JWT" })}.${payload}.`;
      const hsInput = `${b64url({ alg: "HS256", kid: jwks.body.keys[0].kid })}.${payload}`;
      const hs256 = `${hsInput}.${createHmac("sha256", publicKey).update(hsInput).digest("base64url")}`;

      for (const forged of [none, hs256]) {
        const res = await platformAs(forged);
        assert.equal(res.status, 401);
        assert.equal(res.body.code, "invalid_token");
      }
    });

    test("the JWKS publishes no private key material", async () => {
      const res = await stack.call("platform", "GET", "/.well-known/jwks.json");

      assert.equal(res.status, 200);
      for (const key of res.body.keys) {
        for (const part of ["d", "p", "q", "dp", "dq", "qi"]) assert.equal(key[part], undefined, part);
      }
    });

    test("twenty concurrent first calls create exactly one platform", async () => {
      const token = await devToken(stack, { sub: "dev_race" });

      const answers = await Promise.all(Array.from({ length: 20 }, () => platformAs(token)));

      assert.ok(answers.every((res) => res.status === 200));
      assert.equal(new Set(answers.map((res) => res.body.data.id)).size, 1);
      const db = await stack.d1();
      const { n } = await db.prepare("SELECT COUNT(*) AS n FROM platforms WHERE subject = 'dev_race'").first();
      assert.equal(n, 1);
    });
  });

  describe("projects", () => {
    test("creating a project reveals its secret key once, and only there", async () => {
      const dev = await signIn(stack, "dev_projects");

      const created = await createProject(dev, { name: "Weather API", type: "saas" });
      const listed = await dev.call("GET", "/v1/projects");
      const fetched = await dev.call("GET", `/v1/projects/${created.project.id}`);
      const keys = await dev.call("GET", `/v1/projects/${created.project.id}/keys`);

      assert.match(created.secretKey, /^sk_test_/);
      assert.match(created.project.publishableKey, /^pk_test_/);
      assert.equal(created.project.mode, "test");
      assert.equal(created.key.display, `sk_test_…${created.secretKey.slice(-4)}`);
      for (const res of [listed, fetched, keys]) {
        assert.equal(res.status, 200);
        assert.ok(!res.text.includes(created.secretKey), "the secret key must never be shown again");
        assert.ok(!res.text.includes(created.secretKey.slice(8, 30)), "nor any part of it beyond the last 4");
      }
      assert.deepEqual(listed.body.data.map((p) => p.id), [created.project.id]);
      assert.equal(listed.body.total, 1);
      assert.equal(fetched.body.data.name, "Weather API");
    });

    test("both keys of a new project reach the api worker, in their own lanes", async () => {
      const dev = await signIn(stack, "dev_lanes");
      const { project, secretKey } = await createProject(dev, { type: "store", mode: "live" });
      // Live keys work only for a developer whose Tollgate subscription is active.
      const db = await stack.d1();
      await db.prepare("UPDATE platforms SET billing_status = 'active' WHERE subject = 'dev_lanes'").run();

      const bySecret = await whoami(stack, { secretKey });
      const byPublishable = await whoami(stack, { publishableKey: project.publishableKey });

      assert.deepEqual(bySecret.body.data, { projectId: project.id, mode: "live", type: "store", lane: "secret", keyExpiresAt: null });
      assert.equal(byPublishable.body.data.lane, "publishable");
      assert.equal(byPublishable.body.data.projectId, project.id);
    });

    test("malformed, unknown or misplaced keys answer 401 at the api worker", async () => {
      const dev = await signIn(stack, "dev_badkeys");
      const { project, secretKey } = await createProject(dev);
      const flipped = secretKey.slice(0, 10) + (secretKey[10] === "a" ? "b" : "a") + secretKey.slice(11);
      const cases = [
        [{ Authorization: "Bearer sk_test_short" }, "invalid_api_key", /invalid, revoked or expired/],
        [{ Authorization: `Bearer ${flipped}` }, "invalid_api_key", /invalid, revoked or expired/],
        [{ Authorization: `Bearer ${project.publishableKey}` }, "missing_credentials", /publishable key \(pk_…\) goes in `X-Publishable-Key`/],
        [{ "X-Publishable-Key": secretKey }, "missing_credentials", /secret key \(sk_…\) goes in `Authorization: Bearer`/],
        [{ Authorization: `Bearer ${dev.token}` }, "missing_credentials", /takes an API key .* a developer sign-in token \(JWT\) arrived/],
        [{ Authorization: `Bearer sk_live_${secretKey.slice(8)}` }, "invalid_api_key", /invalid, revoked or expired/],
        [{}, "missing_credentials", /Send `Authorization: Bearer sk_…`/],
      ];
      for (const [headers, code, message] of cases) {
        const res = await stack.call("api", "GET", "/api/project", { headers });

        assert.equal(res.status, 401, JSON.stringify(headers));
        assert.equal(res.body.code, code, JSON.stringify(headers));
        assert.match(res.body.error, message, JSON.stringify(headers));
        assert.ok(!res.text.includes(secretKey), "errors never echo a key");
      }
    });

    test("an API key sent to a developer route is named as such, not as a malformed token", async () => {
      const dev = await signIn(stack, "dev_keyasjwt");
      const { secretKey } = await createProject(dev);

      const res = await stack.call("platform", "GET", "/v1/projects", { headers: { Authorization: `Bearer ${secretKey}` } });

      assert.deepEqual([res.status, res.body.code], [401, "missing_credentials"]);
      assert.match(res.body.error, /takes the developer sign-in token .* an API key arrived/);
      assert.ok(!res.text.includes(secretKey), "errors never echo a key");
    });

    test("a rename needs the updatedAt the caller read, and a stale one answers 409", async () => {
      const dev = await signIn(stack, "dev_rename");
      const { project } = await createProject(dev, { name: "Old name" });

      const renamed = await dev.call("PATCH", `/v1/projects/${project.id}`, { body: { name: "New name", updatedAt: project.updatedAt } });
      const stale = await dev.call("PATCH", `/v1/projects/${project.id}`, { body: { name: "Lost update", updatedAt: project.updatedAt } });
      const now = await dev.call("GET", `/v1/projects/${project.id}`);

      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.data.name, "New name");
      assert.ok(renamed.body.data.updatedAt > project.updatedAt);
      assert.equal(stale.status, 409);
      assert.equal(stale.body.code, "stale_update");
      assert.equal(now.body.data.name, "New name");
    });

    test("a deleted project is gone and its keys stop working", async () => {
      const dev = await signIn(stack, "dev_delete");
      const { project, secretKey } = await createProject(dev);

      const deleted = await dev.call("DELETE", `/v1/projects/${project.id}`);
      const fetched = await dev.call("GET", `/v1/projects/${project.id}`);
      const bySecret = await whoami(stack, { secretKey });
      const byPublishable = await whoami(stack, { publishableKey: project.publishableKey });
      const again = await dev.call("DELETE", `/v1/projects/${project.id}`);

      assert.equal(deleted.status, 200);
      assert.equal(fetched.status, 404);
      assert.equal(bySecret.status, 401);
      assert.equal(byPublishable.status, 401);
      assert.equal(again.status, 404);
    });

    test("lists paginate and refuse out-of-range pages", async () => {
      const dev = await signIn(stack, "dev_paging");
      for (let i = 0; i < 3; i += 1) await createProject(dev, { name: `P${i}` });

      const second = await dev.call("GET", "/v1/projects?page=2&pageSize=2");
      const bad = await dev.call("GET", "/v1/projects?pageSize=101");

      assert.deepEqual([second.body.total, second.body.page, second.body.pageSize, second.body.data.length], [3, 2, 2, 1]);
      assert.equal(second.body.data[0].name, "P2");
      assert.equal(bad.status, 422);
      assert.ok(bad.body.fieldErrors.pageSize);
    });
  });

  describe("bad input", () => {
    test("invalid fields are all reported at once and change nothing", async () => {
      const dev = await signIn(stack, "dev_invalid");
      const cases = [
        [{}, ["name", "type"]],
        [{ name: "", type: "saas" }, ["name"]],
        [{ name: "x".repeat(10 * 1024), type: "saas" }, ["name"]],
        [{ name: "ok", type: "membership" }, ["type"]],
        [{ name: "ok", type: "saas", mode: "prod" }, ["mode"]],
        [{ name: "a\u0000b", type: "saas" }, ["name"]],
      ];
      for (const [body, fields] of cases) {
        const res = await dev.call("POST", "/v1/projects", { body });

        assert.equal(res.status, 422, JSON.stringify(body).slice(0, 60));
        assert.equal(res.body.code, "validation_failed");
        assert.deepEqual(Object.keys(res.body.fieldErrors).sort(), fields);
      }
      const listed = await dev.call("GET", "/v1/projects");
      assert.equal(listed.body.total, 0, "nothing was created");
    });

    test("non-JSON, wrong types, unknown fields and oversized bodies are refused", async () => {
      const dev = await signIn(stack, "dev_malformed");
      const cases = [
        [{ body: "{not json" }, 400, "invalid_json"],
        [{ body: '{"name": 5, "type": "saas"}' }, 400, "invalid_json"],
        [{ body: { name: "a", type: "saas", plan: "pro" } }, 400, "invalid_json"],
        [{ body: "name=a", headers: { "Content-Type": "application/x-www-form-urlencoded" } }, 415, "unsupported_media_type"],
        [{ body: { name: "a", type: "saas", padding: "x".repeat(17 * 1024) } }, 413, "payload_too_large"],
      ];
      for (const [request, status, code] of cases) {
        const res = await dev.call("POST", "/v1/projects", request);

        assert.equal(res.status, status, code);
        assert.equal(res.body.code, code);
      }
      const unknown = await dev.call("POST", "/v1/projects", { body: { name: "a", type: "saas", plan: "pro" } });
      assert.match(unknown.body.error, /plan/, "the unknown field is named");
      assert.equal((await dev.call("GET", "/v1/projects")).body.total, 0);
    });
  });

  describe("keys", () => {
    test("a rotated key with no grace period stops at once and the new key works", async () => {
      const dev = await signIn(stack, "dev_rotate");
      const { project, secretKey: old } = await createProject(dev);

      const rotated = await dev.call("POST", `/v1/projects/${project.id}/keys/rotate`, { body: {} });

      assert.equal(rotated.status, 201);
      assert.notEqual(rotated.body.data.secretKey, old);
      assert.equal(rotated.body.data.previous.status, "rotated");
      assert.equal((await whoami(stack, { secretKey: rotated.body.data.secretKey })).status, 200);
      assert.equal((await whoami(stack, { secretKey: old })).status, 401);
    });

    test("a rotated key keeps working through its grace period, then stops", async () => {
      const dev = await signIn(stack, "dev_grace");
      const { project, secretKey: old } = await createProject(dev);

      const rotated = await dev.call("POST", `/v1/projects/${project.id}/keys/rotate`, { body: { gracePeriodSeconds: 2 } });
      const during = await whoami(stack, { secretKey: old });
      await sleep(2_500);
      const afterGrace = await whoami(stack, { secretKey: old });

      assert.equal(rotated.status, 201);
      assert.equal(during.status, 200);
      assert.equal(during.body.data.keyExpiresAt, rotated.body.data.previous.expiresAt);
      assert.equal(afterGrace.status, 401);
      const keys = await dev.call("GET", `/v1/projects/${project.id}/keys`);
      assert.deepEqual(keys.body.data.map((k) => k.status), ["active", "rotated"]);
    });

    test("grace periods beyond seven days are refused", async () => {
      const dev = await signIn(stack, "dev_grace_bad");
      const { project } = await createProject(dev);

      for (const grace of [-1, 604_801]) {
        const res = await dev.call("POST", `/v1/projects/${project.id}/keys/rotate`, { body: { gracePeriodSeconds: grace } });
        assert.equal(res.status, 422, String(grace));
        assert.ok(res.body.fieldErrors.gracePeriodSeconds);
      }
    });

    test("a revoked key stops at once; revoking again changes nothing", async () => {
      const dev = await signIn(stack, "dev_revoke");
      const { project, secretKey, key } = await createProject(dev);

      const revoked = await dev.call("POST", `/v1/projects/${project.id}/keys/${key.id}/revoke`);
      const again = await dev.call("POST", `/v1/projects/${project.id}/keys/${key.id}/revoke`);

      assert.equal(revoked.status, 200);
      assert.equal(revoked.body.data.status, "revoked");
      assert.equal(again.body.data.revokedAt, revoked.body.data.revokedAt);
      assert.equal((await whoami(stack, { secretKey })).status, 401);
    });

    test("a key cached by the api worker stops working within the stated cache bound", async () => {
      const dev = await signIn(stack, "dev_revoke_warm");
      const { project, secretKey, key } = await createProject(dev);
      assert.equal((await whoami(stack, { secretKey })).status, 200, "warms the api isolate's cache");

      await dev.call("POST", `/v1/projects/${project.id}/keys/${key.id}/revoke`);
      const started = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - started < 5_000) {
        status = (await whoami(stack, { secretKey })).status;
        if (status === 200) await sleep(200);
      }

      assert.equal(status, 401);
      assert.ok(Date.now() - started <= 2_500, `stopped after ${Date.now() - started} ms; bound is KEY_CACHE_SECONDS (2 s)`);
    });

    test("rotation after a revocation issues a fresh active key", async () => {
      const dev = await signIn(stack, "dev_rerotate");
      const { project, key } = await createProject(dev);
      await dev.call("POST", `/v1/projects/${project.id}/keys/${key.id}/revoke`);

      const rotated = await dev.call("POST", `/v1/projects/${project.id}/keys/rotate`, { body: {} });

      assert.equal(rotated.status, 201);
      assert.equal(rotated.body.data.previous, null);
      assert.equal((await whoami(stack, { secretKey: rotated.body.data.secretKey })).status, 200);
    });
  });

  describe("fresh writes", () => {
    test("rotation, revocation and deletion need a recent sign-in; reads do not", async () => {
      const fresh = await signIn(stack, "dev_stale");
      const { project, key } = await createProject(fresh);
      const stale = await signIn(stack, "dev_stale", { authAge: 700 });

      const read = await stale.call("GET", `/v1/projects/${project.id}`);
      const writes = [
        await stale.call("POST", `/v1/projects/${project.id}/keys/rotate`, { body: {} }),
        await stale.call("POST", `/v1/projects/${project.id}/keys/${key.id}/revoke`),
        await stale.call("DELETE", `/v1/projects/${project.id}`),
      ];

      assert.equal(read.status, 200);
      for (const res of writes) {
        assert.equal(res.status, 403);
        assert.equal(res.body.code, "reauthentication_required");
      }
      const keys = await fresh.call("GET", `/v1/projects/${project.id}/keys`);
      assert.deepEqual(keys.body.data.map((k) => k.status), ["active"], "nothing changed");
    });

    test("changing redirect origins needs a recent sign-in and changes nothing otherwise", async () => {
      const fresh = await signIn(stack, "dev_stale_origins");
      const { project } = await createProject(fresh);
      const stale = await signIn(stack, "dev_stale_origins", { authAge: 700 });
      const path = `/v1/projects/${project.id}/redirect-origins`;

      const read = await stale.call("GET", path);
      const refused = await stale.call("PUT", path, { body: { origins: ["https://evil.example"] } });
      const afterRefusal = await fresh.call("GET", path);
      const allowed = await fresh.call("PUT", path, { body: { origins: ["https://shop.example"] } });

      assert.equal(read.status, 200);
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, "reauthentication_required");
      assert.deepEqual(afterRefusal.body.data.origins, []);
      assert.equal(allowed.status, 200);
      assert.deepEqual(allowed.body.data.origins, ["https://shop.example"]);
    });
  });

  describe("tenant isolation", () => {
    test("another developer's project answers 404 on every route and stays untouched", async () => {
      const owner = await signIn(stack, "dev_owner");
      const intruder = await signIn(stack, "dev_intruder");
      const { project, key, secretKey } = await createProject(owner);
      const base = `/v1/projects/${project.id}`;

      const attempts = [
        await intruder.call("GET", base),
        await intruder.call("PATCH", base, { body: { name: "Mine now", updatedAt: project.updatedAt } }),
        await intruder.call("DELETE", base),
        await intruder.call("GET", `${base}/keys`),
        await intruder.call("POST", `${base}/keys/rotate`, { body: {} }),
        await intruder.call("POST", `${base}/keys/${key.id}/revoke`),
        await intruder.call("GET", `${base}/audit`),
      ];

      for (const res of attempts) {
        assert.equal(res.status, 404);
        assert.equal(res.body.code, "not_found");
      }
      assert.equal((await intruder.call("GET", "/v1/projects")).body.total, 0);
      assert.equal((await owner.call("GET", base)).body.data.name, project.name);
      assert.equal((await whoami(stack, { secretKey })).status, 200);
    });
  });

  describe("the audit trail", () => {
    test("every write is recorded with actor, target and request id, newest first, and no secret", async () => {
      const dev = await signIn(stack, "dev_audit");
      const created = await dev.call("POST", "/v1/projects", {
        body: { name: "Audited", type: "saas" },
        headers: { "X-Request-Id": "audit-create-1" },
      });
      const { project, key } = created.body.data;
      await dev.call("PATCH", `/v1/projects/${project.id}`, { body: { name: "Audited 2", updatedAt: project.updatedAt } });
      const rotated = await dev.call("POST", `/v1/projects/${project.id}/keys/rotate`, { body: { gracePeriodSeconds: 60 } });
      await dev.call("POST", `/v1/projects/${project.id}/keys/${key.id}/revoke`);
      await dev.call("PATCH", `/v1/projects/${project.id}`, { body: { name: "stale", updatedAt: project.updatedAt } });
      await dev.call("DELETE", `/v1/projects/${project.id}`);

      const trail = await dev.call("GET", "/v1/audit");

      assert.deepEqual(
        trail.body.data.map((e) => e.action),
        ["project.deleted", "key.revoked", "key.rotated", "project.renamed", "project.created"],
        "a refused (stale) rename leaves no event",
      );
      const creation = trail.body.data.at(-1);
      assert.equal(creation.requestId, "audit-create-1");
      assert.equal(creation.actor, "dev_audit");
      assert.equal(creation.targetId, project.id);
      assert.equal(creation.userAgent, "node");
      for (const secret of [created.body.data.secretKey, rotated.body.data.secretKey]) {
        assert.ok(!trail.text.includes(secret.slice(8)), "no secret in the audit trail");
      }
    });

    test("a project's trail holds only that project's events", async () => {
      const dev = await signIn(stack, "dev_audit_scope");
      const first = await createProject(dev, { name: "One" });
      await createProject(dev, { name: "Two" });

      const trail = await dev.call("GET", `/v1/projects/${first.project.id}/audit`);
      const whole = await dev.call("GET", "/v1/audit?pageSize=1");

      assert.deepEqual(trail.body.data.map((e) => e.projectId), [first.project.id]);
      assert.equal(whole.body.total, 2);
      assert.equal(whole.body.data.length, 1);
    });
  });

  describe("idempotency", () => {
    test("a retry with the same key and body replays the answer, secret included", async () => {
      const dev = await signIn(stack, "dev_idem");
      const request = { body: { name: "Once", type: "saas" }, headers: { "Idempotency-Key": "create-once" } };

      const first = await dev.call("POST", "/v1/projects", request);
      const retry = await dev.call("POST", "/v1/projects", request);

      assert.equal(first.status, 201);
      assert.equal(retry.status, 201);
      assert.deepEqual(retry.body, first.body);
      assert.equal(retry.headers.get("idempotent-replayed"), "true");
      assert.equal((await dev.call("GET", "/v1/projects")).body.total, 1);
    });

    test("the same key with another body answers 422 and creates nothing", async () => {
      const dev = await signIn(stack, "dev_idem_reuse");
      await dev.call("POST", "/v1/projects", { body: { name: "A", type: "saas" }, headers: { "Idempotency-Key": "k1" } });

      const reused = await dev.call("POST", "/v1/projects", { body: { name: "B", type: "saas" }, headers: { "Idempotency-Key": "k1" } });

      assert.equal(reused.status, 422);
      assert.equal(reused.body.code, "idempotency_key_reused");
      assert.equal((await dev.call("GET", "/v1/projects")).body.total, 1);
    });

    test("twenty concurrent creates with one key make one project", async () => {
      const dev = await signIn(stack, "dev_idem_race");
      const request = { body: { name: "Racy", type: "store" }, headers: { "Idempotency-Key": "race-1" } };

      const answers = await Promise.all(Array.from({ length: 20 }, () => dev.call("POST", "/v1/projects", request)));

      const created = answers.filter((res) => res.status === 201);
      const busy = answers.filter((res) => res.status === 409);
      assert.equal(created.length + busy.length, 20, answers.map((r) => r.status).join(","));
      assert.ok(busy.every((res) => res.body.code === "idempotency_in_flight"));
      assert.equal(new Set(created.map((res) => res.body.data.project.id)).size, 1);
      assert.equal((await dev.call("GET", "/v1/projects")).body.total, 1);
    });

    test("after ten minutes a replay refuses to show the secret again", async () => {
      const dev = await signIn(stack, "dev_idem_late");
      const request = { body: { name: "Late", type: "saas" }, headers: { "Idempotency-Key": "late-1" } };
      await dev.call("POST", "/v1/projects", request);
      const db = await stack.d1();
      await db.prepare("UPDATE idempotency_keys SET created_at = created_at - 601000 WHERE key = 'late-1'").run();

      const late = await dev.call("POST", "/v1/projects", request);

      assert.equal(late.status, 409);
      assert.equal(late.body.code, "secret_already_shown");
      assert.equal((await dev.call("GET", "/v1/projects")).body.total, 1);
    });

    test("the recorded answer is sealed at rest", async () => {
      const dev = await signIn(stack, "dev_idem_sealed");
      const first = await dev.call("POST", "/v1/projects", {
        body: { name: "Sealed", type: "saas" },
        headers: { "Idempotency-Key": "sealed-1" },
      });
      const db = await stack.d1();

      const row = await db.prepare("SELECT response_body FROM idempotency_keys WHERE key = 'sealed-1'").first();

      assert.match(row.response_body, /^sealed:v2\./);
      assert.ok(!row.response_body.includes(first.body.data.secretKey));
    });

    test("a malformed idempotency key is refused", async () => {
      const dev = await signIn(stack, "dev_idem_bad");

      const res = await dev.call("POST", "/v1/projects", {
        body: { name: "x", type: "saas" },
        headers: { "Idempotency-Key": "x".repeat(256) },
      });

      assert.equal(res.status, 400);
      assert.equal(res.body.code, "invalid_idempotency_key");
    });
  });

  describe("CORS", () => {
    const preflight = (origin) =>
      stack.call("platform", "OPTIONS", "/v1/projects", {
        headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization" },
      });

    test("the console origin may call; its preflight lists what it may send", async () => {
      const res = await preflight("http://localhost:5173");

      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "http://localhost:5173");
      assert.match(res.headers.get("access-control-allow-headers"), /Authorization/);
      assert.equal(res.headers.get("access-control-allow-credentials"), null);
    });

    test("other origins are refused and never echoed", async () => {
      const refused = await preflight("https://evil.example");
      // A route of the worker's own, not /health, which the one origin answers itself.
      const simple = await stack.call("platform", "GET", "/v1/platform", { headers: { Origin: "https://evil.example" } });

      assert.equal(refused.status, 403);
      assert.equal(refused.headers.get("access-control-allow-origin"), null);
      assert.equal(simple.headers.get("access-control-allow-origin"), null);
    });

    test("the api worker allows any origin, without credentials", async () => {
      const res = await stack.call("api", "GET", "/api/project", { headers: { Origin: "https://shop.example" } });

      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.equal(res.headers.get("access-control-allow-credentials"), null);
    });
  });

  describe("secrets stay secret", () => {
    test("no secret key appears in any log line", async () => {
      const dev = await signIn(stack, "dev_logs");
      const { secretKey } = await createProject(dev);
      await whoami(stack, { secretKey: `${secretKey.slice(0, -1)}x` });

      assert.ok(stack.logs.every((entry) => !entry.message.includes(secretKey.slice(8))));
    });
  });
});

describe("a production-configured platform", () => {
  let stack;
  before(async () => {
    stack = await testStack({ vars: { ENVIRONMENT: "production" } });
  });
  after(() => stack?.stop());

  test("has no development issuer routes", async () => {
    const jwks = await stack.call("platform", "GET", "/.well-known/jwks.json");
    const token = await stack.call("platform", "POST", "/dev/token", { body: { sub: "x" } });

    assert.equal(jwks.status, 404);
    assert.equal(token.status, 404);
  });
});
