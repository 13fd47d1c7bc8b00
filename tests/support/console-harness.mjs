// A stand-in for the platform's console hosting and OIDC flow, used only until the platform
// worker serves console/dist and its development issuer gains /authorize: the built files
// with the worker's security headers, config.json, and an issuer that mints through
// POST /dev/token after checking PKCE.

import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { readFileSync, statSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import { DEV_AUDIENCE, ROOT } from "../../scripts/stack.mjs";

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".svg": "image/svg+xml" };

export function listen(port) {
  const codes = new Map();
  let stackUrls;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    const origin = `http://127.0.0.1:${port}`;
    const body = await new Promise((done) => {
      let b = "";
      req.on("data", (c) => (b += c));
      req.on("end", () => done(b));
    });
    const send = (status, type, text, headers = {}) => {
      res.writeHead(status, { "Content-Type": type, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", ...headers });
      res.end(text);
    };
    if (url.pathname === "/.well-known/openid-configuration")
      return send(200, "application/json", JSON.stringify({ issuer: origin, authorization_endpoint: `${origin}/authorize`, token_endpoint: `${origin}/token` }));
    if (url.pathname === "/authorize" && req.method === "GET") {
      const hidden = [...url.searchParams].map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replaceAll('"', "&quot;")}">`).join("");
      return send(200, "text/html; charset=utf-8", `<!doctype html><title>Sign in</title><form method="post" action="/authorize">${hidden}<label>Developer id <input name="sub"></label><label>Email <input name="email"></label><button>Sign in</button></form>`);
    }
    if (url.pathname === "/authorize" && req.method === "POST") {
      const f = new URLSearchParams(body);
      const code = randomBytes(16).toString("hex");
      codes.set(code, { sub: f.get("sub"), email: f.get("email"), challenge: f.get("code_challenge") });
      const back = new URL(f.get("redirect_uri"));
      back.searchParams.set("code", code);
      back.searchParams.set("state", f.get("state"));
      res.writeHead(302, { Location: back.toString() });
      return res.end();
    }
    if (url.pathname === "/token" && req.method === "POST") {
      const f = new URLSearchParams(body);
      const grant = codes.get(f.get("code"));
      codes.delete(f.get("code"));
      const challenge = createHash("sha256").update(f.get("code_verifier") ?? "").digest("base64url");
      if (!grant || grant.challenge !== challenge) return send(400, "application/json", JSON.stringify({ error: "invalid_grant" }));
      const minted = await fetch(`${stackUrls.platform}/dev/token`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ sub: grant.sub, email: grant.email }) });
      const token = (await minted.json()).data.token;
      return send(200, "application/json", JSON.stringify({ access_token: token, id_token: token, token_type: "Bearer", expires_in: 3600 }));
    }
    if (url.pathname === "/console/config.json")
      return send(200, "application/json", JSON.stringify({ issuer: origin, clientId: "tollgate-console", audience: DEV_AUDIENCE, scope: "openid email", redirectPath: "/console/callback", environment: "development", urls: stackUrls }));
    if (url.pathname.startsWith("/console/")) {
      const rel = normalize(url.pathname.slice("/console/".length)).replace(/^(\.\.[/\\])+/, "");
      let file = join(ROOT, "console", "dist", rel);
      if (!statSync(file, { throwIfNoEntry: false })?.isFile()) file = join(ROOT, "console", "dist", "index.html");
      const csp = `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: ${stackUrls.api}; connect-src 'self' ${stackUrls.platform} ${stackUrls.catalog} ${stackUrls.webhooks} ${stackUrls.api}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
      return send(200, TYPES[extname(file)] ?? "application/octet-stream", readFileSync(file), { "Content-Security-Policy": csp });
    }
    if (url.pathname === "/") {
      res.writeHead(302, { Location: "/console/" });
      return res.end();
    }
    send(404, "text/plain", "not found");
  });
  return {
    url: `http://127.0.0.1:${port}`,
    setStack(urls) {
      stackUrls = urls;
    },
    start: () => new Promise((done) => server.listen(port, "127.0.0.1", done)),
    close: () => new Promise((done) => server.close(done)),
  };
}
