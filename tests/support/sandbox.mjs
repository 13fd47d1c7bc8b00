// Test fixture for the Stripe sandbox suites: a local stack whose configured webhook endpoint
// (SANDBOX_WEBHOOK_URL) is a receiver in this process, official `stripe` clients pointed at
// the sandbox, the sandbox's test controls, and the Connect OAuth dance a browser would do.

import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Stripe from "stripe";
import { devSecrets } from "../../scripts/stack.mjs";
import { testStack } from "./stack.mjs";

/**
 * An HTTP server on 127.0.0.1 that records every request (`{ path, headers, body }`) and
 * answers 200, or the status set for a path with `answer(path, status)`.
 */
export async function startReceiver() {
  const received = [];
  const statuses = new Map();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const path = req.url.split("?")[0];
      received.push({ path, method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(statuses.get(path) ?? 200, { "Content-Type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    /** Deliveries to `path`, oldest first. */
    at: (path) => received.filter((r) => r.path === path),
    answer: (path, status) => statuses.set(path, status),
    close: () => new Promise((done) => server.close(done)),
  };
}

/** The events in deliveries, parsed (not verified). */
export const eventsOf = (deliveries) => deliveries.map((d) => JSON.parse(d.body));

/**
 * Starts the stack with the configured endpoint at `<receiver>/configured`. Returns the
 * stack, the sandbox origin, the development secrets, the receiver, and helpers.
 */
export async function sandboxStack({ vars = {} } = {}) {
  const receiver = await startReceiver();
  const dir = mkdtempSync(join(tmpdir(), "tollgate-stripe-"));
  const secrets = devSecrets(dir);
  const stack = await testStack({ persistDir: dir, vars: { SANDBOX_WEBHOOK_URL: `${receiver.url}/configured`, ...vars } });
  const origin = stack.urls["stripe-sandbox"];
  const port = Number(new URL(origin).port);

  /** An official client on the sandbox; test-mode platform key unless told otherwise. */
  const client = (key = secrets.STRIPE_SECRET_KEY_TEST, options = {}) =>
    new Stripe(key, { host: "127.0.0.1", port, protocol: "http", maxNetworkRetries: 0, ...options });

  /** A raw call to the sandbox (for what the SDK cannot send): `{ status, headers, body }`. */
  async function raw(method, path, { key = secrets.STRIPE_SECRET_KEY_TEST, form, json, headers = {} } = {}) {
    const init = { method, headers: { ...headers }, redirect: "manual" };
    if (key) init.headers.Authorization = `Bearer ${key}`;
    if (form) {
      init.body = new URLSearchParams(form).toString();
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
    }
    if (json) {
      init.body = JSON.stringify(json);
      init.headers["Content-Type"] = "application/json";
    }
    const res = await fetch(`${origin}${path}`, init);
    const text = await res.text();
    let body = text;
    if ((res.headers.get("content-type") ?? "").includes("json")) body = JSON.parse(text);
    return { status: res.status, headers: res.headers, body };
  }

  /** A test control (`/_sandbox…`), answered as JSON. */
  const control = (method, path, options = {}) => raw(method, `/_sandbox${path}`, options);

  /**
   * Connects a new account through the OAuth pages and `stripe.oauth.token`, as a platform
   * with `clientId` would. Returns the token answer and the redirect it went through.
   */
  async function connect(stripe, { clientId = secrets.STRIPE_CLIENT_ID_TEST, state = "st-1", redirectUri = "http://127.0.0.1:9/callback" } = {}) {
    const query = new URLSearchParams({ response_type: "code", client_id: clientId, scope: "read_write", state, redirect_uri: redirectUri });
    const page = await raw("GET", `/oauth/authorize?${query}`, { key: null });
    if (page.status !== 200) throw new Error(`authorize page answered ${page.status}: ${page.body}`);
    const decision = await raw("POST", "/oauth/authorize", { key: null, form: { ...Object.fromEntries(query), decision: "allow" } });
    const location = new URL(decision.headers.get("location"));
    const token = await stripe.oauth.token({ grant_type: "authorization_code", code: location.searchParams.get("code") });
    return { token, location, decision };
  }

  return {
    stack,
    origin,
    secrets,
    receiver,
    client,
    raw,
    control,
    connect,
    async stop() {
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
      await receiver.close();
    },
  };
}

/** A product and a price in one go (`recurring` absent for one-time). */
export async function price(stripe, { amount = 1900, currency = "usd", recurring, name = "Pro", options } = {}) {
  const product = await stripe.products.create({ name }, options);
  const created = await stripe.prices.create(
    { product: product.id, unit_amount: amount, currency, ...(recurring ? { recurring } : {}) },
    options,
  );
  return { product, price: created };
}
