// The developer console in headless Chromium against the real local stack: the SaaS journey
// (sign in through the issuer's form, create a project, copy the secret from its reveal and
// use it as a backend, copy the base URL, connect the sandbox Stripe account, add tiers,
// meter and see the usage, rotate the key through the fresh-sign-in prompt), the refusals (another developer's
// project, a stale edit), the security headers, storage kept free of tokens, and axe-core on
// every page.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { launchBrowser } from "./support/browser.mjs";
import { VIA_GATEWAY, testStack } from "./support/stack.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { consent, startConnect, stripeApi } from "./support/stripe.mjs";
import { freePort } from "../scripts/stack.mjs";

/** Sign-ins older than this need a fresh one: short, so the test can outwait it. */
const FRESH_AUTH_SECONDS = 20;

let stack;
let chrome;
let consoleUrl;
let receiver;
/** The SaaS journey's project, with a paid subscription: the operator journey audits it. */
let saasProjectId;

/** A developer's webhook receiver on 127.0.0.1: answers 200 and keeps what it got. */
async function startReceiver() {
  const received = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try {
        received.push(JSON.parse(body));
      } catch {
        received.push({ raw: body });
      }
      res.writeHead(200).end("ok");
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return { received, url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((done) => server.close(done)) };
}

before(async () => {
  // The platform's port is chosen first so the Connect callback can send the popup back to
  // the console (CONSOLE_URL), as a deployment does.
  const ports = { platform: await freePort(), gateway: await freePort() };
  const consoleOrigin = `http://127.0.0.1:${VIA_GATEWAY ? ports.gateway : ports.platform}`;
  stack = await testStack({
    ports,
    vars: { CONSOLE_URL: `${consoleOrigin}/console/`, FRESH_AUTH_SECONDS: String(FRESH_AUTH_SECONDS), OPERATOR_SUBJECTS: "dev_ops" },
  });
  receiver = await startReceiver();
  consoleUrl = `${stack.urls.platform}/console`;
  chrome = await launchBrowser();
  await chrome.browser.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.urls.platform });
});

after(async () => {
  await receiver?.close();
  await chrome?.close();
  await stack?.stop();
});

/** Fills the issuer's sign-in form on `page` (the console redirected or a popup opened there). */
async function fillIssuerForm(page, sub) {
  await page.waitForSelector('input[name="sub"]');
  await page.fill('input[name="sub"]', sub);
  await page.fill('input[name="email"]', `${sub}@example.test`);
  await page.click('button:has-text("Sign in")');
}

/** Opens `path` in a new tab and signs in through the form; answers the tab, back on `path`. */
async function signedInTab(sub, path = "/") {
  const page = await chrome.browser.newPage();
  await page.goto(`${consoleUrl}${path}`);
  await page.click('button:has-text("Sign in")');
  await fillIssuerForm(page, sub);
  await page.waitForSelector("header.top");
  return page;
}

/** Answers the fresh sign-in prompt: the popup's form, as `sub`. */
async function freshSignIn(page, sub) {
  await page.waitForSelector('[role="dialog"]:has-text("Confirm it is you")');
  const [popup] = await Promise.all([page.context().waitForEvent("page"), page.click('button:has-text("Sign in again")')]);
  await fillIssuerForm(popup, sub);
  await page.waitForSelector('[role="dialog"]', { state: "detached" });
}

/** Runs `body` with the tab; on failure keeps a screenshot for the report (console-failure-*.png in the temp dir). */
async function withTab(page, name, body) {
  try {
    await body(page);
  } catch (err) {
    await page.screenshot({ path: join(tmpdir(), `console-failure-${name}.png`), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await page.close();
  }
}

/** Asserts `locator` settles on `n` matches: a list re-renders after its query answers, so a count taken at once can see the old page. */
async function settlesOn(locator, n, timeout = 5_000) {
  const until = Date.now() + timeout;
  let seen = await locator.count();
  while (seen !== n && Date.now() < until) {
    await new Promise((done) => setTimeout(done, 50));
    seen = await locator.count();
  }
  assert.equal(seen, n);
}

/** Waits for `selector`, answering the fresh sign-in prompt first if the action asked for one. */
async function afterMaybeFresh(page, sub, selector) {
  const dialog = page.locator('[role="dialog"]:has-text("Confirm it is you")');
  await Promise.race([page.waitForSelector(selector), dialog.waitFor()]);
  if (await dialog.count()) await freshSignIn(page, sub);
  await page.waitForSelector(selector);
}

/** Connects a sandbox Stripe account in `mode` from the console's Catalog page (a popup). */
async function connectInConsole(page, sub, mode = "test") {
  await page.click('nav[aria-label="Project"] >> text=Catalog');
  await page.waitForSelector(`[data-testid="stripe-state-${mode}"]`);
  const popupOpened = page.context().waitForEvent("page");
  await page.click(`button:has-text("Connect Stripe (${mode})")`);
  const popup = await popupOpened;
  const dialog = page.locator('[role="dialog"]:has-text("Confirm it is you")');
  await Promise.race([popup.waitForSelector('button:has-text("Connect")'), dialog.waitFor()]);
  if (await dialog.count()) await freshSignIn(page, sub);
  await popup.waitForSelector('button:has-text("Connect")');
  await popup.click('button:has-text("Connect")');
  await page.waitForSelector(`[data-testid="stripe-state-${mode}"]:has-text("connected")`, { timeout: 15_000 });
}

async function axe(page, name) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    [],
    `axe on ${name}`,
  );
}

describe("the console", () => {
  test("every console page is served with the security headers, and / leads to it", async () => {
    for (const path of ["/console/", "/console/test/projects/prj_x/keys", "/console/callback"]) {
      const res = await fetch(`${stack.urls.platform}${path}`);
      const html = await res.text();
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.equal(res.status, 200, path);
      assert.match(html, /<div id="root">/);
      assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, "no inline script");
      assert.doesNotMatch(html, /\sstyle=/, "no inline style");
      for (const rule of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]) assert.ok(csp.includes(rule), `${path}: ${rule} in ${csp}`);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    }
    const root = await fetch(`${stack.urls.platform}/`, { redirect: "manual" });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get("location"), "/console/");
  });

  test("sign-in goes through the issuer's form and leaves no token in web storage", async () => {
    const page = await signedInTab("dev_storage");
    assert.match(page.url(), /\/console\/test\/projects$/);
    const stored = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } }));
    assert.equal(stored, JSON.stringify({ local: {}, session: {} }));
    await page.close();
  });

  test("the SaaS journey: project, secret from the reveal, Stripe, tiers, metering, fresh-sign-in rotation", async () => {
    await withTab(await signedInTab("dev_alice"), "saas", async (page) => {
    const signedInAt = Date.now();
    await axe(page, "projects (empty)");

    // 1. Create a SaaS project; the reveal shows the secret once, copied from its button.
    await page.fill('input[name="name"]', "Alice API");
    await page.check('input[value="saas"]');
    await page.click('button:has-text("Create project")');
    await page.waitForSelector('[data-testid="revealed-secret"]');
    await axe(page, "secret reveal");
    await page.click('button[aria-label="Copy the secret"]');
    const secret = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(secret, /^sk_test_/);
    assert.equal(await page.textContent('[data-testid="revealed-secret"]'), secret);
    await page.check('text=I have stored it');
    await page.click('button:has-text("Done: hide it")');
    await page.waitForSelector('h2:has-text("Publishable key")');
    assert.equal(await page.locator('[data-testid="revealed-secret"]').count(), 0);
    const projectId = /projects\/(prj_[^/]+)\//.exec(page.url())[1];

    // The project's frame shows the base URL the SDK is given, and copies it.
    assert.equal(await page.textContent('[data-testid="base-url"]'), stack.urls.api);
    await page.click('button[aria-label="Copy the base URL"]');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), stack.urls.api);

    // 2. The copied secret works from the backend.
    const backend = { Authorization: `Bearer ${secret}` };
    const who = await stack.call("api", "GET", "/api/project", { headers: backend });
    assert.equal(who.status, 200);

    // 3. Connect the sandbox Stripe account from the Catalog page (a popup), then two tiers.
    await connectInConsole(page, "dev_alice");
    await addTier(page, { name: "free", displayName: "Free", price: "0", limit: "100" });
    await addTier(page, { name: "pro", displayName: "Pro", price: "19", limit: "10000", popular: true });
    await page.waitForSelector('tr[data-name="pro"]:has-text("$19.00")');
    await axe(page, "catalog");

    // 4. A webhook endpoint (a receiver in this test): the signing secret is shown once.
    await page.click('nav[aria-label="Project"] >> text=Webhooks');
    await page.fill('form[aria-label="New endpoint"] input[name="url"]', `${receiver.url}/hooks`);
    await page.click('button:has-text("Add endpoint")');
    await page.waitForSelector('[data-testid="revealed-secret"]');
    assert.match(await page.textContent('[data-testid="revealed-secret"]'), /^whsec_/);
    await page.check("text=I have stored it");
    await page.click('button:has-text("Done: hide it")');
    await axe(page, "webhooks");

    // 5. The backend creates a customer and meters 7 calls; the dashboard shows them.
    const created = await stack.call("api", "POST", "/api/customers", { headers: backend, body: { email: "ann@example.test", externalId: "ann" } });
    assert.equal(created.status, 201);
    for (let i = 0; i < 7; i++) {
      const metered = await stack.call("api", "POST", "/api/data", { headers: { ...backend, "X-User-Id": "ann" } });
      assert.equal(metered.status, 200);
    }
    await stack.settleMeters(/projects\/(prj_[^/]+)\//.exec(page.url())[1]);
    await page.click('nav[aria-label="Project"] >> text=Dashboard');
    await page.waitForSelector('[data-testid="metric-usage"]');
    assert.match(await page.textContent('[data-testid="metric-usage"]'), /Usage this period\s*7/);
    assert.match(await page.textContent('[data-testid="chart-usage-today"]'), /Today: 7/);
    await page.waitForSelector('[data-testid="chart-usage"] canvas');
    await axe(page, "dashboard");

    // The customer table shows Ann with 7 on her usage bar, on the free plan.
    await page.click('nav[aria-label="Project"] >> text=Customers');
    const ann = page.locator('tr[data-customer="ann"]');
    await ann.waitFor();
    assert.match(await ann.locator('[data-testid="usage-text"]').textContent(), /^7 \/ 100$/);
    assert.equal(await ann.locator('progress').getAttribute("value"), "7");
    assert.equal(await ann.locator('[data-testid="plan"]').textContent(), "free");
    await axe(page, "customers");

    // 6. Ann buys pro on the sandbox's hosted page: once Stripe's webhook is applied, MRR shows.
    const checkout = await stack.call("api", "POST", "/api/create-checkout", {
      headers: { ...backend, "X-User-Id": "ann" },
      body: { tier: "pro", successUrl: `${receiver.url}/thanks`, cancelUrl: `${receiver.url}/pricing` },
    });
    assert.equal(checkout.status, 200, checkout.text);
    const buyer = await chrome.browser.newPage();
    await buyer.goto(checkout.body.url);
    await Promise.all([buyer.waitForURL(`${receiver.url}/thanks**`), buyer.click("#pay")]);
    await buyer.close();
    const alice = await signIn(stack, "dev_alice");
    await until(async () => (await alice.call("GET", `/v1/projects/${projectId}/dashboard`)).body.data.mrr.length > 0);
    await page.click('nav[aria-label="Project"] >> text=Keys');
    await page.click('nav[aria-label="Project"] >> text=Dashboard');
    await page.waitForSelector('[data-testid="metric-mrr"]:has-text("$19.00")');
    await page.click('nav[aria-label="Project"] >> text=Customers');
    await page.waitForSelector('tr[data-customer="ann"] [data-testid="plan"]:has-text("pro")');
    await page.click('tr[data-customer="ann"] a');
    await page.waitForSelector('[data-testid="customer-subscription"]:has-text("active")');
    assert.match(await page.textContent('[data-testid="customer-subscription"]'), /pro, \$19\.00 \/ month/);
    await page.waitForSelector('[data-testid="customer-usage"] canvas');
    await axe(page, "customer detail");
    saasProjectId = projectId;

    // 7. The endpoint got customer.created, and the deliveries log says so.
    await page.click('nav[aria-label="Project"] >> text=Webhooks');
    await page.waitForSelector('table[aria-label="Deliveries"] tr:has-text("customer.created"):has-text("delivered")', { timeout: 20_000 });
    assert.ok(receiver.received.some((r) => r.type === "customer.created"));
    const sent = receiver.received.filter((r) => r.type === "customer.created").length;
    await page.click('table[aria-label="Deliveries"] tr:has-text("customer.created") button:has-text("Resend")');
    await until(async () => receiver.received.filter((r) => r.type === "customer.created").length > sent);

    // 8. Rotate once the sign-in is stale: the fresh sign-in prompt, then the old key fails.
    await page.click('nav[aria-label="Project"] >> text=Keys');
    await page.waitForSelector('h2:has-text("Rotate the secret key")');
    const inUse = page.locator("tr", { has: page.locator(".badge-active") }).first();
    assert.doesNotMatch(await inUse.locator('td[title="Kept to within five minutes"]').textContent(), /never/, "the backend's calls show as its last use");
    await axe(page, "keys");
    const wait = signedInAt + (FRESH_AUTH_SECONDS + 2) * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await page.selectOption('select:near(:text("Grace period"))', "0");
    await page.click('button:has-text("Rotate key")');
    await freshSignIn(page, "dev_alice");
    await page.waitForSelector('[data-testid="revealed-secret"]');
    const rotated = await page.textContent('[data-testid="revealed-secret"]');
    assert.notEqual(rotated, secret);
    const old = await stack.call("api", "GET", "/api/project", { headers: backend });
    assert.equal(old.status, 401);
    const fresh = await stack.call("api", "GET", "/api/project", { headers: { Authorization: `Bearer ${rotated}` } });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.body.data?.id ?? fresh.body.id ?? projectId, projectId);

    // The rotated key's row can still be revoked outright.
    await page.check("text=I have stored it");
    await page.click('button:has-text("Done: hide it")');
    const previous = page.locator("tr", { has: page.locator(".badge-rotated") }).first();
    await previous.locator('button:has-text("Revoke")').click();
    await previous.locator('button:has-text("Revoke now")').click();
    await page.waitForSelector("tr .badge-revoked");

    // The audit trail lists the rotation with its request id; the overview sums the mode.
    await page.click('nav[aria-label="Project"] >> text=Audit trail');
    await page.waitForSelector('table[aria-label="Audit events"]');
    await page.selectOption('select:near(:text("Action"))', "key.rotated");
    const rows = page.locator('table[aria-label="Audit events"] tbody tr');
    await settlesOn(rows, 1);
    assert.match(await rows.first().textContent(), /key\.rotated.*dev_alice.*req_/s);
    await axe(page, "audit");
    await page.click('nav[aria-label="Main"] >> text=Overview');
    await page.waitForSelector('[data-testid="metric-usage"]');
    // (Ann's usage counts from zero again in her paid period, so the MRR is what shows her.)
    await page.waitForSelector('[data-testid="metric-mrr"]:has-text("$19.00")');
    assert.match(await page.textContent("main"), /Alice API/);
    });
  });
});

describe("the Store journey", () => {
  test("a product with inventory 3 and a downloadable file; a purchase shows units sold 1 and stock 2", async () => {
    await withTab(await signedInTab("dev_sam"), "store", async (page) => {
      await page.fill('input[name="name"]', "Sam's Shop");
      await page.check('input[value="store"]');
      await page.click('button:has-text("Create project")');
      const secret = await page.textContent('[data-testid="revealed-secret"]');
      await page.check("text=I have stored it");
      await page.click('button:has-text("Done: hide it")');
      await page.waitForSelector('h2:has-text("Publishable key")');
      const projectId = /projects\/(prj_[^/]+)\//.exec(page.url())[1];
      await connectInConsole(page, "dev_sam");

      await page.click('button:has-text("Add a product")');
      const form = page.locator('form[aria-label="New product"]');
      await form.locator('input[name="name"]').fill("ebook");
      await form.locator('input[name="displayName"]').fill("The e-book");
      await form.locator('input[name="price"]').fill("12");
      await form.locator('input[name="inventory"]').fill("3");
      await form.locator('input[name="download"]').setInputFiles({ name: "book.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4\n% the e-book\n") });
      await form.locator("text=/File ast_|File asset_|File [a-z]+_/").waitFor();
      await form.locator('button[type="submit"]').click();
      await page.waitForSelector('tr[data-name="ebook"]:has-text("3 left")');

      const backend = { Authorization: `Bearer ${secret}` };
      const sam = await signIn(stack, "dev_sam");
      const products = await stack.call("catalog", "GET", `/v1/projects/${projectId}/products`, { headers: { Authorization: `Bearer ${sam.token}` } });
      const product = products.body.data[0];
      assert.ok(product.assetId, "the uploaded file is the product's download");
      await stack.call("api", "POST", "/api/customers", { headers: backend, body: { email: "buyer@example.test", externalId: "buyer" } });
      const cart = await stack.call("api", "POST", "/api/cart/checkout", {
        headers: { ...backend, "X-User-Id": "buyer" },
        body: { items: [{ productId: product.id }], successUrl: `${receiver.url}/thanks`, cancelUrl: `${receiver.url}/shop` },
      });
      assert.equal(cart.status, 200, cart.text);
      const buyer = await chrome.browser.newPage();
      await buyer.goto(cart.body.url);
      await Promise.all([buyer.waitForURL(`${receiver.url}/thanks**`), buyer.click("#pay")]);
      await buyer.close();
      await until(async () => (await sam.call("GET", `/v1/projects/${projectId}/dashboard`)).body.data.store.unitsSold === 1);

      await page.click('nav[aria-label="Project"] >> text=Dashboard');
      await page.waitForSelector('[data-testid="metric-units"]');
      assert.match(await page.textContent('[data-testid="metric-units"]'), /Units sold\s*1/);
      assert.match(await page.textContent('[data-testid="metric-stock"]'), /Stock\s*2/);
      assert.match(await page.textContent('[data-testid="metric-revenue"]'), /\$12\.00/);
      const download = await stack.call("api", "POST", "/api/downloads", { headers: { ...backend, "X-User-Id": "buyer" }, body: { productId: product.id } });
      assert.equal(download.status, 200, download.text);

      // The order is in the buyer's detail; revoking its entitlement makes the download fail.
      await page.click('nav[aria-label="Project"] >> text=Customers');
      await page.click('tr[data-customer="buyer"] a');
      await page.waitForSelector('table[aria-label="Orders"] tr:has-text("$12.00")');
      assert.match(await page.textContent('table[aria-label="Orders"]'), /paid/);
      const entitlement = page.locator('table[aria-label="Entitlements"] tr[data-entitlement^="ent_"]');
      await entitlement.locator('button:has-text("Revoke")').click();
      await entitlement.locator('button:has-text("Revoke access")').click();
      await page.waitForSelector('table[aria-label="Entitlements"] tr[data-entitlement^="ent_"]:has-text("revoked")');
      await axe(page, "customer with an order");
      const refused = await fetch(download.body.data.url);
      assert.equal(refused.status, 403);
      assert.equal((await refused.json()).code, "entitlement_required");
      const again = await stack.call("api", "POST", "/api/downloads", { headers: { ...backend, "X-User-Id": "buyer" }, body: { productId: product.id } });
      assert.equal(again.status, 403);

      // Archiving takes the product off sale.
      await page.click('nav[aria-label="Project"] >> text=Catalog');
      await page.click('button[aria-label="Archive ebook"]');
      await page.click('tr[data-name="ebook"] button:has-text("Archive"):not([aria-label])');
      await page.waitForSelector('tr[data-name="ebook"] .badge-archived');
    });
  });
});

describe("projects", () => {
  test("promotion makes the live twin, and the mode switch moves between the two", async () => {
    await withTab(await signedInTab("dev_lea"), "promote", async (page) => {
      await page.fill('input[name="name"]', "Lea API");
      await page.click('button:has-text("Create project")');
      await page.check("text=I have stored it");
      await page.click('button:has-text("Done: hide it")');
      await page.waitForSelector('h2:has-text("Publishable key")');
      const testId = /projects\/(prj_[^/]+)\//.exec(page.url())[1];
      await page.click('nav[aria-label="Project"] >> text=Catalog');
      await addTier(page, { name: "free", displayName: "Free", price: "0", limit: "100" });
      assert.match(await page.textContent('[aria-label="What promotion creates"]'), /1 tiers: Free/);
      assert.equal(await page.locator('button[aria-label="Promote to live"]').isDisabled(), true);
      await connectInConsole(page, "dev_lea", "live");
      await page.click('button[aria-label="Promote to live"]');
      await page.click('button:has-text("Promote now")');
      await afterMaybeFresh(page, "dev_lea", '[data-testid="revealed-secret"]');
      assert.match(await page.textContent('[data-testid="revealed-secret"]'), /^sk_live_/);
      await page.check("text=I have stored it");
      await page.click('button:has-text("Done: hide it")');
      await page.click("text=Open the live project");
      await page.waitForSelector(".live-banner");
      const liveId = /live\/projects\/(prj_[^/]+)\//.exec(page.url())[1];
      assert.notEqual(liveId, testId);

      await page.click('nav[aria-label="Project"] >> text=Keys');
      await page.click('.mode-switch button:has-text("Test")');
      await page.waitForURL(new RegExp(`/console/test/projects/${testId}/keys$`));
      await page.click('.mode-switch button:has-text("Live")');
      await page.waitForURL(new RegExp(`/console/live/projects/${liveId}/keys$`));
      await page.click('nav[aria-label="Main"] >> text=Projects');
      await page.waitForURL(/\/console\/live\/projects$/);
      await settlesOn(page.locator('ul[aria-label="Projects"] .badge-live'), 1);
      await axe(page, "live projects");
    });
  });

  test("deleting a project takes its name typed; then it is gone and its key fails", async () => {
    const erin = await signIn(stack, "dev_erin");
    const { project, secretKey } = await createProject(erin, { name: "Erin's old API" });
    await withTab(await signedInTab("dev_erin", `/test/projects/${project.id}/settings`), "delete", async (page) => {
      const button = page.locator('button:has-text("Delete project")');
      await page.fill('.confirm input', "Erin's old");
      assert.equal(await button.isDisabled(), true);
      await page.fill('.confirm input', "Erin's old API");
      await button.click();
      await afterMaybeFresh(page, "dev_erin", "h1:has-text('Projects')");
      await page.waitForSelector("text=No test projects yet");
      assert.match(page.url(), /\/console\/test\/projects$/);
    });
    const gone = await stack.call("api", "GET", "/api/project", { headers: { Authorization: `Bearer ${secretKey}` } });
    assert.equal(gone.status, 401);
  });
});

describe("customers", () => {
  test("the table searches and pages; deleting a customer takes a fresh sign-in and their name", async () => {
    const gil = await signIn(stack, "dev_gil");
    const { project, secretKey } = await createProject(gil, { name: "Gil API" });
    await stack.call("catalog", "POST", `/v1/projects/${project.id}/tiers`, { headers: { Authorization: `Bearer ${gil.token}` }, body: { name: "free", displayName: "Free", price: 0, limit: 10 } });
    const backend = { Authorization: `Bearer ${secretKey}` };
    for (let i = 1; i <= 23; i++) {
      const res = await stack.call("api", "POST", "/api/customers", { headers: backend, body: { email: `user${String(i).padStart(2, "0")}@example.test`, externalId: `user${i}` } });
      assert.equal(res.status, 201);
    }
    await withTab(await signedInTab("dev_gil", `/test/projects/${project.id}/customers`), "customers", async (page) => {
      const rows = page.locator('table[aria-label="Customers"] tbody tr');
      await settlesOn(rows, 20);
      await page.click('nav[aria-label="Pages"] button:has-text("Next")');
      await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Customers"] tbody tr').length === 3);
      await page.click('nav[aria-label="Pages"] button:has-text("Previous")');
      await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Customers"] tbody tr').length === 20);

      await page.fill('input[name="search"]', "user07@example.test");
      await page.click('button:has-text("Search")');
      await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Customers"] tbody tr').length === 1);
      await page.click('tr[data-customer="user7"] a');
      await page.waitForSelector("#customer-title:has-text('user07@example.test')");
      await page.fill(".danger-zone .confirm input", "user07@example.test");
      await page.click('button:has-text("Delete customer")');
      await afterMaybeFresh(page, "dev_gil", "#customers-title");
      await page.fill('input[name="search"]', "user07@example.test");
      await page.click('button:has-text("Search")');
      await page.waitForSelector("text=No customer matches.");
    });
    const gone = await stack.call("api", "GET", "/api/customers/user7", { headers: backend });
    assert.equal(gone.status, 404);
  });
});

describe("a customer's subscription", () => {
  test("the detail changes a subscriber's plan behind a fresh sign-in, and the plan follows Stripe's webhook", async () => {
    // Arrange: a subscriber to pro, made the way the developer's backend would.
    const kim = await signIn(stack, "dev_kim");
    const { project, secretKey } = await createProject(kim, { name: "Kim API" });
    await connectWithoutBrowser(kim);
    const auth = { Authorization: `Bearer ${kim.token}` };
    for (const tier of [
      { name: "free", displayName: "Free", price: 0, limit: 10 },
      { name: "pro", displayName: "Pro", price: 900, limit: 100 },
      { name: "team", displayName: "Team", price: 2900, limit: 1000 },
    ]) {
      const res = await stack.call("catalog", "POST", `/v1/projects/${project.id}/tiers`, { headers: auth, body: tier });
      assert.equal(res.status, 201, res.text);
    }
    const account = (await stack.call("catalog", "GET", "/v1/stripe/connections", { headers: auth })).body.data.find((c) => c.mode === "test").accountId;
    const sk = { Authorization: `Bearer ${secretKey}` };
    const made = await stack.call("api", "POST", "/api/customers", { headers: sk, body: { email: "sub@example.test", externalId: "sub-user" } });
    const checkout = await stack.call("api", "POST", "/api/create-checkout", {
      headers: { ...sk, "X-User-Id": "sub-user" },
      body: { tier: "pro", successUrl: "http://127.0.0.1:5173/ok", cancelUrl: "http://127.0.0.1:5173/no" },
    });
    assert.equal(checkout.status, 200, checkout.text);
    assert.equal((await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${checkout.body.sessionId}/complete`, { account })).status, 200);
    const id = made.body.data.id;
    await until(async () => (await stack.call("catalog", "GET", `/v1/projects/${project.id}/customers/${id}`, { headers: auth })).body.data?.plan === "pro");

    // Act + assert
    await withTab(await signedInTab("dev_kim", `/test/projects/${project.id}/customers/${id}`), "subscription", async (page) => {
      await page.waitForSelector('[data-testid="customer-plan"]:has-text("pro")');
      await page.selectOption('form[aria-label="Change the plan"] select', "team");
      await page.click('button:has-text("Change plan")');
      await afterMaybeFresh(page, "dev_kim", '[data-testid="subscription-answer"]');
      assert.match(await page.textContent('[data-testid="subscription-answer"]'), /Moving to team/);
      await until(async () => (await stack.call("catalog", "GET", `/v1/projects/${project.id}/customers/${id}`, { headers: auth })).body.data?.plan === "team");
      await page.reload();
      await page.click('button:has-text("Sign in")');
      await fillIssuerForm(page, "dev_kim");
      await page.waitForSelector('[data-testid="customer-plan"]:has-text("team")');
      await page.click('button:has-text("Cancel at period end")');
      await page.locator('button:has-text("Cancel at period end")').last().click();
      await afterMaybeFresh(page, "dev_kim", '[data-testid="subscription-answer"]:has-text("Set to cancel")');
      await axe(page, "subscription");
    });
  });
});

describe("webhook endpoints", () => {
  test("send a test event and see it delivered; edit the events, disable, rotate the secret (shown once) and delete", async () => {
    const ivy = await signIn(stack, "dev_ivy");
    const { project } = await createProject(ivy, { name: "Ivy API" });
    await withTab(await signedInTab("dev_ivy", `/test/projects/${project.id}/webhooks`), "webhooks", async (page) => {
      await page.fill('form[aria-label="New endpoint"] input[name="url"]', `${receiver.url}/ivy`);
      await page.uncheck('form[aria-label="New endpoint"] >> text=All events');
      await page.check('form[aria-label="New endpoint"] label:has-text("customer.created") input');
      await page.click('button:has-text("Add endpoint")');
      await afterMaybeFresh(page, "dev_ivy", '[data-testid="revealed-secret"]');
      const first = await page.textContent('[data-testid="revealed-secret"]');
      await page.check("text=I have stored it");
      await page.click('button:has-text("Done: hide it")');
      const row = page.locator(".endpoint", { hasText: `${receiver.url}/ivy` });
      await row.waitFor();
      assert.match(await row.textContent(), /events: customer\.created/);

      await row.locator('button:has-text("Send test event")').click();
      const queued = await row.locator('[role="status"]:has-text("Test event")').textContent();
      const eventId = /evt_\S+/.exec(queued)[0];
      await page.waitForSelector(`table[aria-label="Deliveries"] tr:has-text("${eventId}") .badge-delivered`, { timeout: 15_000 });
      assert.ok(receiver.received.some((body) => body.id === eventId && body.type === "webhook.test"));

      await row.locator('button:has-text("Edit")').click();
      await row.locator('label:has-text("order.completed") input').check();
      await row.locator('button:has-text("Save")').click();
      await afterMaybeFresh(page, "dev_ivy", `.endpoint:has-text("customer.created, order.completed")`);
      await page.locator(".endpoint").locator('button:has-text("Disable")').click();
      await page.waitForSelector(".endpoint .badge-disabled");

      await page.locator(".endpoint").locator('button:has-text("Rotate secret")').click();
      await afterMaybeFresh(page, "dev_ivy", '[data-testid="revealed-secret"]');
      const second = await page.textContent('[data-testid="revealed-secret"]');
      assert.match(second, /^whsec_/);
      assert.notEqual(second, first);
      await page.check("text=I have stored it");
      await page.click('button:has-text("Done: hide it")');
      await page.waitForSelector(".endpoint:has-text('previous secret signs until')");

      await page.locator(".endpoint").locator('button:has-text("Delete")').click();
      await page.locator(".endpoint").locator('button:has-text("Delete endpoint")').click();
      await afterMaybeFresh(page, "dev_ivy", "text=No endpoints yet");
    });
    const left = await stack.call("webhooks", "GET", `/v1/projects/${project.id}/webhook-endpoints`, { headers: { Authorization: `Bearer ${ivy.token}` } });
    assert.deepEqual(left.body.data, []);
  });
});

describe("settings", () => {
  test("redirect origins save behind a fresh sign-in, and a rename keeps the stale guard", async () => {
    const hal = await signIn(stack, "dev_hal");
    const { project } = await createProject(hal, { name: "Hal API" });
    await withTab(await signedInTab("dev_hal", `/test/projects/${project.id}/settings`), "settings", async (page) => {
      await page.fill('textarea:near(:text("One origin per line"))', "https://app.example.com\nhttps://shop.example.com");
      await page.click('button:has-text("Save origins")');
      await until(async () => (await hal.call("GET", `/v1/projects/${project.id}/redirect-origins`)).body.data.origins.length === 2);
      await afterMaybeFresh(page, "dev_hal", 'button:has-text("Save origins"):disabled');

      const current = (await hal.call("GET", `/v1/projects/${project.id}`)).body.data;
      const elsewhere = await hal.call("PATCH", `/v1/projects/${project.id}`, { body: { name: "Hal API (renamed elsewhere)", updatedAt: current.updatedAt } });
      assert.equal(elsewhere.status, 200);
      await page.fill('input:near(:text("Project name"))', "Hal's API");
      await page.click('button:has-text("Rename")');
      await page.waitForSelector("text=This changed elsewhere since you loaded it. Reload");
      await page.click('.error-note button:has-text("Reload")');
      await page.waitForSelector("h1:has-text('Hal API (renamed elsewhere)')");

      // The end-user identity provider: trusted, then no longer.
      await page.fill('input:near(:text("Issuer"))', "https://idp.example.com");
      await page.fill('input:near(:text("JWKS URL"))', "https://idp.example.com/.well-known/jwks.json");
      await page.fill('input:near(:text("Audience"))', "hal-app");
      await page.click('button:has-text("Trust this provider")');
      await afterMaybeFresh(page, "dev_hal", "text=End-user JWTs from https://idp.example.com are trusted.");
      await page.click('button:has-text("Stop trusting it")');
      await afterMaybeFresh(page, "dev_hal", "text=None: end users use tokens your backend mints");
    });
    const origins = await hal.call("GET", `/v1/projects/${project.id}/redirect-origins`);
    assert.deepEqual(origins.body.data.origins, ["https://app.example.com", "https://shop.example.com"]);
  });
});

describe("the developer's own plan", () => {
  test("Account subscribes through Tollgate's checkout, the status follows the payment, and the billing portal manages it", async () => {
    await withTab(await signedInTab("dev_payer", "/account"), "plan", async (page) => {
      await page.waitForSelector("section[aria-labelledby='plan-title'] .badge-none");
      await page.click('button:has-text("Subscribe to the developer plan")');
      await page.waitForSelector("#pay");
      await Promise.all([page.waitForURL(/\/console\/account\?billing=success/), page.click("#pay")]);
      // A full page load: the in-memory sign-in is gone, so sign in again and land back here.
      await page.click('button:has-text("Sign in")');
      await fillIssuerForm(page, "dev_payer");
      await page.waitForSelector("text=Thanks: your plan is active");
      const payer = await signIn(stack, "dev_payer");
      await until(async () => (await payer.call("GET", "/v1/platform")).body.data.billingStatus === "active");
      await page.click('nav[aria-label="Main"] >> text=Projects');
      await page.click('nav[aria-label="Main"] >> text=Account');
      await page.waitForSelector("section[aria-labelledby='plan-title'] .badge-active");
      assert.equal(await page.locator('button:has-text("Subscribe to the developer plan")').count(), 0);

      // The billing portal is Stripe's page on Tollgate's own account, listing the plan.
      await Promise.all([page.waitForURL(/\/portal\//), page.click('button:has-text("Manage billing")')]);
      assert.match(await page.textContent("body"), /29\.00/);
      assert.equal(await page.locator('button:has-text("Cancel at period end")').count(), 1);
    });
  });
});

describe("operators", () => {
  test("the drift audit finds a planted drift; the dry run, then confirm, repairs it", async () => {
    assert.ok(saasProjectId, "the SaaS journey ran first");
    const row = await stack.d1().then((db) => db.prepare("SELECT stripe_subscription_id FROM subscriptions WHERE project_id = ?1").bind(saasProjectId).first());
    // Canceled at Stripe without any event reaching Tollgate.
    await (await stack.sandboxD1())
      .prepare("UPDATE objects SET body = json_set(body, '$.status', 'canceled', '$.canceled_at', CAST(?2 AS INTEGER)) WHERE id = ?1")
      .bind(row.stripe_subscription_id, Math.floor(Date.now() / 1000))
      .run();
    await withTab(await signedInTab("dev_ops", "/operators"), "operators", async (page) => {
      await page.fill('input[placeholder="prj_…"]', saasProjectId);
      await page.click('button:has-text("Audit against Stripe")');
      await page.waitForSelector('table[aria-label="Drifted subscriptions"]');
      assert.match(await page.textContent('table[aria-label="Drifted subscriptions"]'), /status_mismatch.*"active".*"canceled"/s);
      await axe(page, "operators with drift");
      await page.click('button:has-text("Dry run the repair")');
      await page.waitForSelector('[aria-label="Planned repair"]');
      await page.click('button:has-text("Confirm repair")');
      await page.waitForSelector("text=Repaired 1 subscription.");
      await page.click('button:has-text("Audit against Stripe")');
      await page.waitForSelector("text=No drift on this page.");
    });
    const after = await stack.d1().then((db) => db.prepare("SELECT status FROM subscriptions WHERE project_id = ?1").bind(saasProjectId).first());
    assert.equal(after.status, "canceled");
  });
});

describe("refusals", () => {
  test("another developer's project id in the URL shows not-found", async () => {
    const bob = await signIn(stack, "dev_bob");
    const { project } = await createProject(bob, { name: "Bob's secret project" });
    await withTab(await signedInTab("dev_carol", `/test/projects/${project.id}/keys`), "foreign", async (page) => {
      await page.waitForSelector("h1:has-text('Not found')");
      assert.match(page.url(), new RegExp(`/console/test/projects/${project.id}/keys$`));
      assert.equal(await page.locator("text=Bob's secret project").count(), 0);
      await axe(page, "not found");
    });
  });

  test("an edit made stale elsewhere shows the conflict, and Reload lets it through", async () => {
    const dave = await signIn(stack, "dev_dave");
    const { project } = await createProject(dave, { name: "Dave API" });
    const auth = { Authorization: `Bearer ${dave.token}` };
    const tier = await stack.call("catalog", "POST", `/v1/projects/${project.id}/tiers`, { headers: auth, body: { name: "free", displayName: "Free", price: 0, limit: 100 } });
    assert.equal(tier.status, 201);
    await withTab(await signedInTab("dev_dave", `/test/projects/${project.id}/catalog`), "stale", async (page) => {
      await page.click('button[aria-label="Edit free"]');
      const form = page.locator('form[aria-label="Edit free"]');
      await form.locator('input[name="displayName"]').fill("Free forever");
      const elsewhere = await stack.call("catalog", "PATCH", `/v1/projects/${project.id}/tiers/${tier.body.data.id}`, { headers: auth, body: { limit: 200, updatedAt: tier.body.data.updatedAt } });
      assert.equal(elsewhere.status, 200);
      await form.locator('button[type="submit"]').click();
      await page.waitForSelector("text=This changed elsewhere since you loaded it. Reload");
      assert.match(await page.textContent(".error-note"), /request id req_/);
      await page.click('.error-note button:has-text("Reload")');
      await page.waitForFunction(() => document.querySelector('form[aria-label="Edit free"] input[name="limit"]')?.value === "200");
      const again = page.locator('form[aria-label="Edit free"]');
      await again.locator('input[name="displayName"]').fill("Free forever");
      await again.locator('button[type="submit"]').click();
      await page.waitForSelector('tr[data-name="free"]:has-text("Free forever")');
    });
  });
});

describe("accessibility and layout", () => {
  test("axe finds no serious or critical violation on any page, at 1280 and 390 px", async () => {
    const ops = await signIn(stack, "dev_ops");
    const saas = await createProject(ops, { name: "Ops SaaS" });
    const store = await createProject(ops, { name: "Ops Store", type: "store" });
    const auth = { Authorization: `Bearer ${ops.token}` };
    await connectWithoutBrowser(ops);
    const product = await stack.call("catalog", "POST", `/v1/projects/${store.project.id}/products`, { headers: auth, body: { name: "ebook", displayName: "E-book", price: 900, inventory: 3 } });
    assert.equal(product.status, 201, product.text);
    const sk = { Authorization: `Bearer ${saas.secretKey}` };
    await stack.call("catalog", "POST", `/v1/projects/${saas.project.id}/tiers`, { headers: auth, body: { name: "free", displayName: "Free", price: 0, limit: 50 } });
    const customer = await stack.call("api", "POST", "/api/customers", { headers: sk, body: { email: "axe@example.test", externalId: "axe-user" } });
    await stack.call("api", "POST", "/api/data", { headers: { ...sk, "X-User-Id": "axe-user" } });
    await withTab(await signedInTab("dev_ops"), "axe", async (page) => {
      const pages = [
        ["/test/projects", "text=Ops SaaS"],
        [`/test/projects/${saas.project.id}/dashboard`, '[data-testid="chart-usage"] canvas'],
        [`/test/projects/${saas.project.id}/customers`, 'tr[data-customer="axe-user"]'],
        [`/test/projects/${saas.project.id}/customers/${customer.body.data.id}`, '[data-testid="customer-usage"] canvas'],
        [`/test/projects/${saas.project.id}/keys`, "#sk-title"],
        [`/test/projects/${saas.project.id}/catalog`, "#catalog-title"],
        [`/test/projects/${store.project.id}/catalog`, 'tr[data-name="ebook"]'],
        [`/test/projects/${saas.project.id}/webhooks`, "#deliveries-title"],
        [`/test/projects/${saas.project.id}/audit`, "#audit-title"],
        [`/test/projects/${saas.project.id}/settings`, "#delete-title"],
        ["/test/overview", '[data-testid="metric-usage"]'],
        ["/live/projects", "h1:has-text('Projects')"],
        ["/account", "#plan-title"],
        ["/operators", "#drift-title"],
      ];
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: 900 });
        for (const [path, ready] of pages) {
          await navigate(page, path);
          await page.waitForSelector(ready);
          await page.waitForLoadState("networkidle");
          await axe(page, `${path} at ${width}px`);
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
          assert.ok(overflow <= 0, `${path} at ${width}px scrolls sideways by ${overflow}px`);
        }
      }
    });
  });

  test("the keyboard alone reaches the project create form and the mode switch", async () => {
    await withTab(await signedInTab("dev_keys"), "keyboard", async (page) => {
      const reached = new Set();
      for (let i = 0; i < 25; i++) {
        await page.keyboard.press("Tab");
        reached.add(await page.evaluate(() => document.activeElement?.getAttribute("name") ?? document.activeElement?.textContent?.trim()));
      }
      for (const name of ["Skip to content", "Test", "Live", "Projects", "name", "type", "Sign out"]) assert.ok(reached.has(name), `${name} reached by Tab (got ${[...reached].join(", ")})`);
      await page.focus('input[name="name"]');
      await page.keyboard.type("Typed API");
      await page.keyboard.press("Enter");
      await page.waitForSelector('[data-testid="revealed-secret"]');
    });
  });
});

/** Connects a sandbox Stripe account (test mode) for `developer` as a browser would, outside the console. */
async function connectWithoutBrowser(developer) {
  const { consentUrl, cookie } = await startConnect(stack, developer, "test");
  const back = await consent(consentUrl);
  const done = await stack.call("catalog", "GET", back.slice(stack.urls.catalog.length), { headers: { Cookie: cookie }, redirect: "manual" });
  assert.equal(done.status, 303);
  assert.match(done.headers.get("location"), /\/console\/\?stripe=connected&mode=test/);
}

/** Polls `check` (up to 15 s). */
async function until(check) {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Moves the single-page app to `path` without a reload (the sign-in lives in memory). */
async function navigate(page, path) {
  await page.evaluate((to) => {
    window.history.pushState(null, "", to);
    window.dispatchEvent(new PopStateEvent("popstate"));
  }, `/console${path}`);
}

async function addTier(page, { name, displayName, price, limit, popular = false }) {
  await page.click('button:has-text("Add a tier")');
  const form = page.locator('form[aria-label="New tier"]');
  await form.locator('input[name="name"]').fill(name);
  await form.locator('input[name="displayName"]').fill(displayName);
  await form.locator('input[name="price"]').fill(price);
  await form.locator('input[name="limit"]').fill(limit);
  if (popular) await form.locator('input[name="popular"]').check();
  await form.locator('button[type="submit"]').click();
  await page.waitForSelector(`tr[data-name="${name}"]`);
}
