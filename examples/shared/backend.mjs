//! The example apps' backend (plain node:http): serves the built app, signs end users up and
//! in by email, remembers who is signed in with a signed cookie, and mints their Tollgate
//! end-user tokens with the SDK's server client. The secret key never leaves this process.
//!
//! A real app signs its users in with its own identity provider; an email is enough here.
//! What matters is the token route: the page's `getEndUserToken` calls it, and the token it
//! answers names this one end user, so the page can meter, buy and download only as them.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { NotFoundError, Tollgate, TollgateError } from "@tollgate/sdk";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};
const COOKIE = "example_session";
const WEEK_SECONDS = 7 * 24 * 3600;

/**
 * Starts the backend on `host:port` (port 0: a free one) for the app built into `dist`.
 * `baseUrl` is Tollgate's one origin. Answers `{ url, tollgate, close() }`.
 */
export async function startBackend({ baseUrl, secretKey, publishableKey, dist, port = 0, host = "127.0.0.1", sessionSecret = randomBytes(32) }) {
  const tollgate = new Tollgate({ secretKey, baseUrl });
  const origin = new URL(baseUrl).origin;
  const root = resolve(dist);

  // The session cookie is the end user's Tollgate id and an HMAC of it: nothing to store.
  const sign = (userId) => createHmac("sha256", sessionSecret).update(userId).digest("base64url");
  const sessionCookie = (userId, maxAge = WEEK_SECONDS) =>
    `${COOKIE}=${userId ? `${userId}.${sign(userId)}` : ""}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}`;
  const signedInAs = (req) => {
    const value = (req.headers.cookie ?? "")
      .split(";")
      .map((part) => part.trim().split("="))
      .find(([name]) => name === COOKIE)?.[1];
    const [userId, mac] = value?.split(".") ?? [];
    if (!userId || !mac) return undefined;
    const expected = Buffer.from(sign(userId));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected) ? userId : undefined;
  };

  /** Signs up (or back in) the end user with this email: one Tollgate customer per email. */
  async function signUp(email) {
    const { data } = await tollgate.customers.list({ email, pageSize: 1 });
    return data[0] ?? (await tollgate.customers.create({ email }));
  }

  const routes = {
    // What the page needs to talk to Tollgate itself: the publishable key and the one origin.
    "GET /config.json": async () => ({ status: 200, body: { publishableKey, baseUrl } }),
    "GET /session": async (req) => {
      const userId = signedInAs(req);
      if (!userId) return { status: 200, body: { user: null } };
      try {
        const customer = await tollgate.customers.get(userId);
        return { status: 200, body: { user: { id: customer.id, email: customer.email } } };
      } catch (error) {
        if (error instanceof NotFoundError) return { status: 200, body: { user: null }, cookie: sessionCookie(null, 0) };
        throw error;
      }
    },
    "POST /session": async (req) => {
      // JSON only: a cross-site form cannot send it, so no other site can sign a visitor in.
      if (!req.headers["content-type"]?.startsWith("application/json")) return { status: 415, body: { error: "Send JSON." } };
      let email;
      try {
        ({ email } = JSON.parse(await readBody(req)));
      } catch {
        return { status: 400, body: { error: "The body is not JSON." } };
      }
      if (typeof email !== "string" || !email.includes("@")) return { status: 422, body: { error: "Enter your email address." } };
      const customer = await signUp(email.trim());
      return { status: 200, body: { user: { id: customer.id, email: customer.email } }, cookie: sessionCookie(customer.id) };
    },
    "DELETE /session": async () => ({ status: 204, cookie: sessionCookie(null, 0) }),
    // The page's getEndUserToken: { token, customerId, expiresAt } for the signed-in end user.
    "GET /tollgate-token": async (req) => {
      const userId = signedInAs(req);
      if (!userId) return { status: 401, body: { error: "Sign in first." } };
      return { status: 200, body: await tollgate.tokens.create({ userId }) };
    },
  };

  async function serveFile(path, res) {
    // Paths without a file extension are the app's own pages: all of them are index.html.
    const wanted = extname(path) ? resolve(root, `.${path}`) : join(root, "index.html");
    const file = wanted.startsWith(root + sep) && (await stat(wanted).catch(() => null))?.isFile() ? wanted : null;
    if (!file) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("Not found");
      return;
    }
    const page = file.endsWith(".html");
    res.writeHead(200, {
      "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
      "Cache-Control": page ? "no-cache" : "public, max-age=31536000, immutable",
      "X-Content-Type-Options": "nosniff",
      // The page runs only its own scripts, and calls (and shows images from) Tollgate's origin.
      ...(page && {
        "Content-Security-Policy": `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' ${origin}; connect-src 'self' ${origin}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'`,
        "Referrer-Policy": "no-referrer",
      }),
    });
    res.end(await readFile(file));
  }

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://app").pathname;
    const route = routes[`${req.method} ${path}`];
    try {
      if (!route) return await serveFile(path, res);
      const { status, body, cookie } = await route(req);
      const headers = { "Cache-Control": "no-store", ...(cookie && { "Set-Cookie": cookie }) };
      if (body === undefined) return res.writeHead(status, headers).end();
      res.writeHead(status, { ...headers, "Content-Type": "application/json" }).end(JSON.stringify(body));
    } catch (error) {
      // Tollgate's own answer (a refused email, say) goes to the page; anything else stays here.
      if (error instanceof TollgateError && error.status >= 400 && error.status < 500) {
        res.writeHead(error.status, { "Content-Type": "application/json" }).end(JSON.stringify({ error: error.message, code: error.code, fieldErrors: error.fieldErrors }));
        return;
      }
      console.error(`[backend] ${req.method} ${path}:`, error);
      res.writeHead(500, { "Content-Type": "application/json" }).end(JSON.stringify({ error: "Something went wrong." }));
    }
  });
  await new Promise((done, fail) => server.once("error", fail).listen(port, host, done));
  return {
    url: `http://${host}:${server.address().port}`,
    tollgate,
    close: () =>
      new Promise((done) => {
        server.close(() => done());
        server.closeAllConnections(); // a browser's idle keep-alive connections would hold close() open
      }),
  };
}

function readBody(req) {
  return new Promise((done, fail) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      body += chunk;
      if (body.length > 10_000) req.destroy(new Error("body too large"));
    });
    req.on("end", () => done(body));
    req.on("error", fail);
  });
}
