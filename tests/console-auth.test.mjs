// The console's delivery and sign-in, over HTTP against the real local stack: the platform
// serves the built console under /console/ with its security headers (any app path gets the
// single page), tells it where to sign in (`/console/config.json`), and the development issuer
// signs developers in with OpenID Connect Authorization Code + PKCE — discovery, a form, a
// one-time code bound to the client, redirect URI and challenge, and an exchange whose
// access token every developer route takes. The browser journeys are in console.test.mjs.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT } from "../scripts/stack.mjs";
import { testStack } from "./support/stack.mjs";

let stack;
let issuer;
const CLIENT = "tollgate-console";
const redirectUri = () => `${issuer}/console/callback`;
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");

/** A fresh PKCE pair. */
function pkce() {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash("sha256").update(verifier).digest()) };
}

function authorizeQuery(challenge, overrides = {}) {
  return new URLSearchParams({ response_type: "code", client_id: CLIENT, redirect_uri: redirectUri(), state: "st/1 2", scope: "openid email", code_challenge: challenge, code_challenge_method: "S256", ...overrides });
}

const form = (fields) => ({ method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString(), redirect: "manual" });

/** Signs `sub` in on the form and returns the code and state the browser is sent back with. */
async function signIn(challenge, sub = "dev_oidc", extra = {}) {
  const res = await fetch(`${issuer}/oauth/authorize`, form({ ...Object.fromEntries(authorizeQuery(challenge, extra)), sub, email: `${sub}@example.test` }));
  await res.arrayBuffer();
  assert.equal(res.status, 302);
  const back = new URL(res.headers.get("location"));
  return { back, code: back.searchParams.get("code"), state: back.searchParams.get("state") };
}

const exchange = (fields) => fetch(`${issuer}/oauth/token`, form({ grant_type: "authorization_code", client_id: CLIENT, redirect_uri: redirectUri(), ...fields }));

before(async () => {
  stack = await testStack();
  issuer = stack.urls.platform;
});
after(() => stack?.stop());

describe("signing in with Authorization Code + PKCE", () => {
  test("discovery names the issuer's sign-in and token endpoints and offers S256 only", async () => {
    const res = await stack.call("platform", "GET", "/.well-known/openid-configuration");

    assert.equal(res.status, 200);
    assert.deepEqual(
      [res.body.issuer, res.body.authorization_endpoint, res.body.token_endpoint, res.body.code_challenge_methods_supported],
      [issuer, `${issuer}/oauth/authorize`, `${issuer}/oauth/token`, ["S256"]],
    );
  });

  test("a signed-in developer's code exchanges once for a token that works on developer routes", async () => {
    const { verifier, challenge } = pkce();
    const page = await fetch(`${issuer}/oauth/authorize?${authorizeQuery(challenge)}`);
    const html = await page.text();

    const { back, code, state } = await signIn(challenge);
    const first = await exchange({ code, code_verifier: verifier });
    const tokens = await first.json();
    const again = await exchange({ code, code_verifier: verifier });
    const projects = await stack.call("platform", "GET", "/v1/projects", { headers: { Authorization: `Bearer ${tokens.access_token}` } });

    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy"), /default-src 'none'/);
    assert.match(html, /name="sub"/);
    assert.equal(`${back.origin}${back.pathname}`, redirectUri());
    assert.equal(state, "st/1 2");
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("cache-control"), "no-store");
    assert.deepEqual([tokens.token_type, tokens.expires_in], ["Bearer", 3600]);
    const claims = JSON.parse(Buffer.from(tokens.access_token.split(".")[1], "base64url"));
    assert.deepEqual([claims.sub, claims.iss, claims.aud], ["dev_oidc", issuer, "tollgate-console"]);
    assert.ok(Math.abs(claims.auth_time - Date.now() / 1000) < 10, "auth_time is the sign-in");
    assert.equal(projects.status, 200, projects.text);
    assert.equal(again.status, 422, "a code answers once");
  });

  test("a fresh sign-in lets a destructive write through", async () => {
    const { verifier, challenge } = pkce();
    const { code } = await signIn(challenge, "dev_oidc_fresh");
    const { access_token: token } = await (await exchange({ code, code_verifier: verifier })).json();
    const headers = { Authorization: `Bearer ${token}` };
    const made = await stack.call("platform", "POST", "/v1/projects", { headers, body: { name: "Short lived", type: "saas" } });

    const deleted = await stack.call("platform", "DELETE", `/v1/projects/${made.body.data.project.id}`, { headers });

    assert.equal(deleted.status, 200, deleted.text);
  });

  test("bad authorize requests get no form and no redirect", async () => {
    const { challenge } = pkce();
    const cases = [
      ["a redirect off the console's origins", { redirect_uri: "https://evil.example/cb" }, "redirect_uri"],
      ["plain PKCE", { code_challenge_method: "plain" }, "code_challenge_method"],
      ["no challenge", { code_challenge: "" }, "code_challenge"],
      ["the implicit flow", { response_type: "token" }, "response_type"],
    ];
    for (const [name, overrides, field] of cases) {
      const page = await stack.call("platform", "GET", `/oauth/authorize?${authorizeQuery(challenge, overrides)}`, { redirect: "manual" });
      const posted = await fetch(`${issuer}/oauth/authorize`, form({ ...Object.fromEntries(authorizeQuery(challenge, overrides)), sub: "dev_x" }));
      const body = await posted.json();

      assert.deepEqual([page.status, page.body.code, Object.keys(page.body.fieldErrors ?? {})], [422, "validation_failed", [field]], name);
      assert.deepEqual([posted.status, posted.headers.get("location")], [422, null], name);
      assert.ok(body.fieldErrors[field], name);
    }
  });

  test("an exchange with the wrong verifier, client or redirect is refused, and spends the code", async () => {
    const cases = [
      ["another verifier", () => ({ code_verifier: pkce().verifier }), "code_verifier"],
      ["another client", (v) => ({ code_verifier: v, client_id: "someone-else" }), "client_id"],
      ["another redirect", (v) => ({ code_verifier: v, redirect_uri: `${issuer}/elsewhere` }), "redirect_uri"],
      ["no verifier", () => ({}), "code_verifier"],
    ];
    for (const [name, fields, field] of cases) {
      const { verifier, challenge } = pkce();
      const { code } = await signIn(challenge);

      const refused = await exchange({ code, ...fields(verifier) });
      const after = await exchange({ code, code_verifier: verifier });

      const body = await refused.json();
      assert.deepEqual([refused.status, body.code], [422, "validation_failed"], name);
      assert.ok(body.fieldErrors[field], `${name}: ${JSON.stringify(body)}`);
      assert.equal(after.status, 422, `${name}: the refused exchange spent the code`);
    }
    const unknown = await exchange({ code: "made-up", code_verifier: pkce().verifier });
    assert.equal(unknown.status, 422);
  });
});

describe("the console's delivery", () => {
  test("config.json names the issuer, the console's client and every worker it calls", async () => {
    const res = await stack.call("platform", "GET", "/console/config.json");

    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      issuer,
      clientId: "tollgate-console",
      audience: "tollgate-console",
      scope: "openid email profile",
      redirectPath: "/console/callback",
      environment: "development",
      urls: { platform: issuer, catalog: stack.urls.catalog, webhooks: stack.urls.webhooks, api: stack.urls.api },
    });
  });

  test("the root and /console go to /console/, and every app path gets the page with strict headers", async () => {
    assert.ok(existsSync(join(ROOT, "console", "dist", "index.html")), "the console is built (npm run build)");
    const root = await fetch(`${issuer}/`, { redirect: "manual" });
    const bare = await fetch(`${issuer}/console`, { redirect: "manual" });
    await Promise.all([root.arrayBuffer(), bare.arrayBuffer()]);

    const index = await fetch(`${issuer}/console/`);
    const deep = await fetch(`${issuer}/console/projects/prj_x/keys`);
    const missing = await fetch(`${issuer}/console/assets/nothing-here.js`);
    const indexHtml = await index.text();
    const deepHtml = await deep.text();
    await missing.arrayBuffer();

    assert.deepEqual([root.status, root.headers.get("location"), bare.status, bare.headers.get("location")], [302, "/console/", 302, "/console/"]);
    assert.deepEqual([index.status, deep.status, missing.status], [200, 200, 404]);
    assert.equal(deepHtml, indexHtml, "an app path is the single page");
    assert.doesNotMatch(indexHtml, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
    assert.equal(missing.headers.get("content-type"), "application/json", "a missing file is the API's 404");
    for (const res of [index, deep]) {
      const csp = res.headers.get("content-security-policy");
      assert.match(csp, /script-src 'self';/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.ok(csp.includes(`connect-src 'self' ${stack.urls.catalog} ${stack.urls.webhooks} ${stack.urls.api}`), csp);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    }
  });

  test("the API routes stay the API's, next to the console", async () => {
    const health = await stack.call("platform", "GET", "/health");
    const unknown = await stack.call("platform", "GET", "/v1/nothing");

    assert.equal(health.status, 200);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, "not_found");
  });
});
