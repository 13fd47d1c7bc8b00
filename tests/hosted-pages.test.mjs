// The Stripe sandbox's hosted pages in a real headless Chromium: checkout (pay, cancel, an
// expired session), the Connect authorize page and the billing portal, clicked through as a
// buyer or a platform owner would, with the official SDK checking what changed.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser, startApp } from "./support/browser.mjs";
import { eventsOf, price, sandboxStack } from "./support/sandbox.mjs";

let sandbox;
let stripe;
let browser;
let chrome;
let app;
let appUrl;

before(async () => {
  sandbox = await sandboxStack();
  stripe = sandbox.client();
  app = await startApp();
  appUrl = app.url;
  chrome = await launchBrowser();
  browser = chrome.browser;
});

after(async () => {
  await chrome?.close();
  await app?.close();
  await sandbox?.stop();
});

/** A new tab; closed by the caller. */
const tab = () => browser.newPage();

async function subscriptionSession(extra = {}) {
  const { price: p } = await price(stripe, { amount: 1900, recurring: { interval: "month" }, name: extra.name ?? "Pro plan" });
  return stripe.checkout.sessions.create({
    mode: "subscription",
    line_items: [{ price: p.id, quantity: 1 }],
    success_url: `${appUrl}/success?session_id={CHECKOUT_SESSION_ID}`,
    cancel_url: `${appUrl}/cancel`,
    ...(extra.email === null ? {} : { customer_email: extra.email ?? "browser@example.test" }),
    subscription_data: { metadata: { via: "browser" } },
  });
}

describe("hosted checkout", () => {
  test("Pay completes the session and lands on the success URL with the session id", async () => {
    const session = await subscriptionSession();
    const page = await tab();

    await page.goto(session.url);
    const total = await page.textContent("#total");
    const description = await page.textContent("table");
    await Promise.all([page.waitForURL(`${appUrl}/success**`), page.click("#pay")]);

    assert.equal(total, "19.00 USD");
    assert.match(description, /1 × Pro plan/);
    assert.equal(await page.textContent("#where"), "/success");
    assert.equal(new URL(page.url()).searchParams.get("session_id"), session.id);
    const paid = await stripe.checkout.sessions.retrieve(session.id, { expand: ["subscription"] });
    assert.equal(paid.status, "complete");
    assert.equal(paid.subscription.status, "active");
    assert.deepEqual(paid.subscription.metadata, { via: "browser" });
    const completed = eventsOf(sandbox.receiver.at("/configured")).filter((e) => e.data.object.id === session.id);
    assert.deepEqual(completed.map((e) => e.type), ["checkout.session.completed"]);
    await page.close();
  });

  test("Cancel lands on the cancel URL and the session stays open", async () => {
    const session = await subscriptionSession();
    const page = await tab();

    await page.goto(session.url);
    await Promise.all([page.waitForURL(`${appUrl}/cancel`), page.click("#cancel")]);

    assert.equal(await page.textContent("#where"), "/cancel");
    assert.equal((await stripe.checkout.sessions.retrieve(session.id)).status, "open");
    await page.close();
  });

  test("an expired session shows that it expired and offers no Pay button", async () => {
    const session = await subscriptionSession();
    await stripe.checkout.sessions.expire(session.id);
    const page = await tab();

    await page.goto(`${sandbox.origin}/pay/${session.id}`);

    assert.equal(await page.locator("#pay").count(), 0);
    assert.match(await page.textContent("#state"), /expired/);
    await page.close();
  });

  test("without a known email the page asks for one and the new customer gets it", async () => {
    const session = await subscriptionSession({ email: null });
    const page = await tab();

    await page.goto(session.url);
    await page.fill("input[name=email]", "typed@example.test");
    await Promise.all([page.waitForURL(`${appUrl}/success**`), page.click("#pay")]);

    const paid = await stripe.checkout.sessions.retrieve(session.id, { expand: ["customer"] });
    assert.equal(paid.customer.email, "typed@example.test");
    await page.close();
  });

  test("names are shown as text, never as markup", async () => {
    const session = await subscriptionSession({ name: "<b id=injected>Bold</b>" });
    const page = await tab();

    await page.goto(session.url);

    assert.equal(await page.locator("#injected").count(), 0);
    assert.match(await page.textContent("table"), /<b id=injected>Bold<\/b>/);
    await page.close();
  });
});

describe("Connect authorize page", () => {
  test("Connect redirects to the platform with a code and the state, and the code exchanges", async () => {
    const query = new URLSearchParams({
      response_type: "code",
      client_id: sandbox.secrets.STRIPE_CLIENT_ID_TEST,
      scope: "read_write",
      state: "csrf-123",
      redirect_uri: `${appUrl}/callback`,
    });
    const page = await tab();

    await page.goto(`${sandbox.origin}/oauth/authorize?${query}`);
    await Promise.all([page.waitForURL(`${appUrl}/callback**`), page.click("#connect")]);

    const landed = new URL(page.url());
    assert.equal(landed.searchParams.get("state"), "csrf-123");
    const token = await stripe.oauth.token({ grant_type: "authorization_code", code: landed.searchParams.get("code") });
    assert.match(token.stripe_user_id, /^acct_/);
    await page.close();
  });

  test("Cancel redirects with access_denied", async () => {
    const query = new URLSearchParams({ response_type: "code", client_id: sandbox.secrets.STRIPE_CLIENT_ID_TEST, state: "s2", redirect_uri: `${appUrl}/callback` });
    const page = await tab();

    await page.goto(`${sandbox.origin}/oauth/authorize?${query}`);
    await Promise.all([page.waitForURL(`${appUrl}/callback**`), page.click("#deny")]);

    const landed = new URL(page.url());
    assert.equal(landed.searchParams.get("error"), "access_denied");
    assert.equal(landed.searchParams.get("state"), "s2");
    await page.close();
  });
});

describe("billing portal page", () => {
  test("Cancel at period end and Resume update the subscription and emit its events", async () => {
    const session = await subscriptionSession();
    await sandbox.control("POST", `/checkout/sessions/${session.id}/complete`);
    const { subscription: subscriptionId, customer } = await stripe.checkout.sessions.retrieve(session.id);
    const portal = await stripe.billingPortal.sessions.create({ customer, return_url: `${appUrl}/account` });
    const page = await tab();

    await page.goto(portal.url);
    await Promise.all([page.waitForURL(portal.url), page.click(`#cancel-${subscriptionId}`)]);
    const leaving = await stripe.subscriptions.retrieve(subscriptionId);
    const ending = await page.textContent(`[id="${subscriptionId}"] .period`);
    await Promise.all([page.waitForURL(portal.url), page.click(`#resume-${subscriptionId}`)]);
    const staying = await stripe.subscriptions.retrieve(subscriptionId);
    await Promise.all([page.waitForURL(`${appUrl}/account`), page.click("#return")]);

    assert.equal(leaving.cancel_at_period_end, true);
    assert.match(ending, /^Ends on \d{4}-\d{2}-\d{2}$/);
    assert.equal(staying.cancel_at_period_end, false);
    assert.equal(await page.textContent("#where"), "/account");
    const secret = sandbox.secrets.STRIPE_WEBHOOK_SECRET;
    const updates = sandbox.receiver
      .at("/configured")
      .map((d) => stripe.webhooks.constructEvent(d.body, d.headers["stripe-signature"], secret))
      .filter((e) => e.type === "customer.subscription.updated" && e.data.object.id === subscriptionId);
    assert.deepEqual(updates.map((e) => e.data.object.cancel_at_period_end), [true, false]);
    await page.close();
  });
});
