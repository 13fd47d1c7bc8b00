// @tollgate/react in headless Chromium: a small Vite app (tests/support/react-app) built on
// the package against the local stack through the one origin. A metered click moves the
// meter, the free allowance ends behind the paywall, the pricing table highlights the
// popular tier and the current plan and starts a sandbox checkout, paying it raises the plan
// (the success page follows the checkout to paid), and the storefront's cart checks out.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT } from "../scripts/stack.mjs";
import { Tollgate } from "../sdk/dist/index.js";
import { launchBrowser } from "./support/browser.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe } from "./support/stripe.mjs";

let stack;
let chrome;
let out;
let saasApp;
let storeApp;

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json" };

/** Builds the test app with Vite, resolving the two packages to their built dist folders. */
async function buildApp() {
  const { build } = await import("vite");
  const react = (await import("@vitejs/plugin-react")).default;
  const dir = mkdtempSync(join(tmpdir(), "tollgate-react-app-"));
  await build({
    root: join(ROOT, "tests/support/react-app"),
    logLevel: "warn",
    plugins: [react()],
    resolve: {
      alias: [
        { find: "@tollgate/react/styles.css", replacement: join(ROOT, "sdk/react/dist/styles.css") },
        { find: "@tollgate/react", replacement: join(ROOT, "sdk/react/dist/index.js") },
        { find: "@tollgate/sdk/browser", replacement: join(ROOT, "sdk/dist/browser-entry.js") },
      ],
    },
    build: { outDir: dir, emptyOutDir: true },
  });
  return dir;
}

/** Serves the built app, and plays its backend: the config and an end-user token for `userId`. */
async function serveApp(project, userId) {
  const tollgate = new Tollgate({ secretKey: project.secretKey, baseUrl: stack.urls.gateway });
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/config.json") {
      res.writeHead(200, { "Content-Type": "application/json" });
      return res.end(JSON.stringify({ publishableKey: project.project.publishableKey, baseUrl: stack.urls.gateway }));
    }
    if (path === "/token") {
      res.writeHead(200, { "Content-Type": "application/json" });
      return res.end(JSON.stringify(await tollgate.tokens.create({ userId })));
    }
    const file = join(out, path === "/" ? "index.html" : path);
    if (!file.startsWith(out) || !existsSync(file)) {
      res.writeHead(200, { "Content-Type": "text/html" });
      return res.end(readFileSync(join(out, "index.html")));
    }
    res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return { tollgate, url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((done) => server.close(done)) };
}

before(async () => {
  out = await buildApp();
  stack = await testStack();
  const dev = await signIn(stack, "dev_react");
  await connectStripe(stack, dev, "test");
  const catalog = (method, path, body) => stack.call("catalog", method, path, { headers: { Authorization: `Bearer ${dev.token}` }, body });

  const saas = await createProject(dev, { name: "React saas", type: "saas" });
  for (const tier of [
    { name: "free", displayName: "Free", price: 0, limit: 3 },
    { name: "pro", displayName: "Pro", price: 900, limit: 100, popular: true, features: ["Exports"] },
  ]) {
    const res = await catalog("POST", `/v1/projects/${saas.project.id}/tiers`, tier);
    assert.equal(res.status, 201, res.text);
  }
  const sdk = new Tollgate({ secretKey: saas.secretKey, baseUrl: stack.urls.gateway });
  const user = await sdk.customers.create({ email: "react@example.test" });
  saasApp = await serveApp(saas, user.id);

  const store = await createProject(dev, { name: "React store", type: "store" });
  const made = await catalog("POST", `/v1/projects/${store.project.id}/products`, { name: "poster", displayName: "Poster", price: 500, inventory: 5 });
  assert.equal(made.status, 201, made.text);
  const buyer = await new Tollgate({ secretKey: store.secretKey, baseUrl: stack.urls.gateway }).customers.create({ email: "buyer@example.test" });
  storeApp = await serveApp(store, buyer.id);

  chrome = await launchBrowser();
});
after(async () => {
  await chrome?.close();
  await saasApp?.close();
  await storeApp?.close();
  await stack?.stop();
  if (out) rmSync(out, { recursive: true, force: true });
});

const meterNow = (page) => page.locator('[role="meter"]').getAttribute("aria-valuenow");

describe("the saas components", () => {
  test("a metered click moves the meter; the allowance ends behind the paywall; the pricing table's checkout raises the plan", async () => {
    const page = await chrome.browser.newPage();
    const failures = [];
    page.on("pageerror", (e) => failures.push(e.message));
    await page.goto(saasApp.url);

    const meter = page.locator('[role="meter"]');
    await meter.waitFor();
    assert.equal(await meterNow(page), "0");
    assert.equal(await meter.getAttribute("aria-valuemax"), "3");
    assert.equal(await meter.getAttribute("aria-valuetext"), "0 of 3 used");

    await page.click("#metered");
    await page.locator("#last", { hasText: "allowed 1" }).waitFor();
    assert.equal(await meterNow(page), "1");
    assert.equal((await saasApp.tollgate.usage.check({ userId: (await saasApp.tollgate.customers.list()).data[0].id })).count, 1, "the server counted the click");

    // The pricing table: the popular tier highlighted, the current plan marked, a button on the paid tier.
    const pricing = page.locator("#pricing");
    const pro = pricing.locator('[data-tier="pro"]');
    const free = pricing.locator('[data-tier="free"]');
    assert.match(await pro.getAttribute("class"), /tg-tier--popular/);
    assert.equal(await pro.locator(".tg-badge").textContent(), "Most popular");
    assert.equal(await free.getAttribute("aria-current"), "true");
    assert.equal(await free.locator(".tg-tier__current").textContent(), "Current plan");
    assert.equal(await free.getByRole("button").count(), 0);
    assert.equal(await page.locator("#exports-locked").count(), 1, "a feature the free tier lacks stays behind its paywall");

    await page.click("#metered");
    await page.locator("#last", { hasText: "allowed 2" }).waitFor();
    await page.click("#metered");
    await page.locator("#feature").getByRole("region", { name: "Upgrade required" }).waitFor();
    assert.equal(await meterNow(page), "3");
    assert.equal(await page.locator("#metered").count(), 0, "the paywall hides the feature at the limit");

    await Promise.all([page.waitForURL((url) => url.toString().startsWith(stack.urls["stripe-sandbox"])), pricing.getByRole("button", { name: "Choose Pro" }).click()]);
    await Promise.all([page.waitForURL(`${saasApp.url}/**`), page.click("#pay")]);
    assert.match(page.url(), /tollgate_session=cs_/);

    await page.locator('#checkout-status[data-paid="true"]', { hasText: "complete" }).waitFor();
    await page.locator('[role="meter"][aria-valuemax="100"]').waitFor();
    assert.equal(await meterNow(page), "0", "the subscription's period starts a new count");
    await page.locator("#metered").click();
    await page.locator("#last", { hasText: "allowed 1" }).waitFor();
    assert.equal(await pricing.locator('[data-tier="pro"]').getAttribute("aria-current"), "true");
    await page.locator("#exports-open").waitFor();
    assert.deepEqual(failures, []);
    await page.close();
  });
});

describe("the store components", () => {
  test("the product grid's cart checks out in the sandbox and the success page follows it to paid", async () => {
    const page = await chrome.browser.newPage();
    await page.goto(`${storeApp.url}/?store=1`);
    const poster = page.locator('[data-product="poster"]');
    await poster.waitFor();
    assert.equal(await poster.locator(".tg-product__stock").textContent(), "5 left");
    await page.getByRole("button", { name: "Checkout" }).isDisabled();
    await page.getByRole("button", { name: "Add Poster to cart" }).click();
    await page.getByRole("button", { name: "One more Poster" }).click();
    assert.equal(await page.getByLabel("Poster quantity").textContent(), "2");

    await Promise.all([page.waitForURL((url) => url.toString().startsWith(stack.urls["stripe-sandbox"])), page.getByRole("button", { name: "Checkout" }).click()]);
    const sessionId = new URL(page.url()).pathname.split("/").find((part) => part.startsWith("cs_"));
    await Promise.all([page.waitForURL(`${storeApp.url}/**`), page.click("#pay")]);
    assert.match(sessionId ?? "", /^cs_/);
    // The grid returns to the page it was on; the app's success view follows the session named in the URL.
    await page.goto(`${storeApp.url}/?store=1&tollgate_session=${sessionId}`);
    await page.locator('#checkout-status[data-paid="true"]', { hasText: "complete" }).waitFor();
    const paid = await storeApp.tollgate.checkout.status(sessionId);
    assert.equal(paid.paid, true);
    assert.deepEqual(paid.items.map((i) => [i.name, i.quantity]), [["poster", 2]]);
    await page.close();
  });
});
