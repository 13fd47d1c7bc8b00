// The two example apps (examples/saas, examples/store) in headless Chromium against a local
// stack on free ports, each started by its one command (`node scripts/examples.mjs <app>`,
// what `npm run example:<app>` runs) against the stack's one origin, as against `npm start`:
// the command makes the demo project, builds the app and serves it with its backend.
// SaaS: sign up, meter until the paywall, buy Pro on the sandbox's hosted page, the limit
// rises, the billing portal opens and comes back. Store: a cart from the product grid, the
// sandbox's hosted page, a thank-you page that turns paid live, the file's bytes downloaded,
// the stock down. The launcher's key handling (reuse, a forgotten key, keys from env) too.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import AxeBuilder from "@axe-core/playwright";
import { Tollgate, UsageLimitError } from "@tollgate/sdk";
import { EXAMPLES, exampleKeys, fileBytes } from "../scripts/examples.mjs";
import { ROOT, freePort } from "../scripts/stack.mjs";
import { launchBrowser } from "./support/browser.mjs";
import { signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";

let stack;
let chrome;
let state;
let baseUrl;
const apps = {};

/**
 * Runs an example's one command against the stack and waits for the URL it prints. Answers
 * the app's URL, its keys as the command kept them, and `stop()`.
 */
async function startExample(name) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, "scripts", "examples.mjs"), name], {
    cwd: ROOT,
    env: { ...process.env, TOLLGATE_URL: baseUrl, TOLLGATE_STATE: state, PORT: String(port), TOLLGATE_SECRET_KEY: "", TOLLGATE_PUBLISHABLE_KEY: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const url = await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`example ${name} did not start within 60 s:\n${output}`)), 60_000);
    const read = (chunk) => {
      output += chunk;
      const started = new RegExp(`The ${name} example: (http://\\S+)`).exec(output);
      if (started) {
        clearTimeout(timer);
        done(started[1]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => fail(new Error(`example ${name} exited (${code}):\n${output}`)));
  });
  const keys = JSON.parse(readFileSync(join(state, "examples.json"), "utf8"))[name];
  const exited = new Promise((done) => child.on("exit", done));
  return {
    url,
    keys,
    tollgate: new Tollgate({ secretKey: keys.secretKey, baseUrl }),
    output: () => output,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

before(async () => {
  // As under `npm start`: asset and download links on the one origin, and Connect's callback
  // sending the developer on to the console.
  const gateway = await freePort();
  const origin = `http://127.0.0.1:${gateway}`;
  stack = await testStack({ ports: { gateway }, vars: { PUBLIC_API_URL: origin, CONSOLE_URL: `${origin}/console/` } });
  baseUrl = stack.urls.gateway;
  state = mkdtempSync(join(tmpdir(), "tollgate-examples-"));
  apps.saas = await startExample("saas");
  apps.store = await startExample("store");
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  for (const app of Object.values(apps)) await app.stop();
  await stack?.stop();
  if (state) rmSync(state, { recursive: true, force: true });
});

/** A new tab that records script errors and CSP refusals (both fail the test at its end). */
async function tab() {
  const page = await chrome.browser.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) problems.push(`csp: ${message.text()}`);
  });
  return { page, problems };
}

/** axe-core on the page as it is: no serious or critical violation. */
async function axe(page, name) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    [],
    `axe on ${name}`,
  );
}

async function signUp(page, appUrl, email) {
  await page.goto(appUrl);
  await page.getByLabel("Email").waitFor();
  await axe(page, `the sign-up page of ${appUrl}`);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByTestId("signed-in-as").filter({ hasText: email }).waitFor();
}

/** Polls `read` until it answers `expected` (deep-equal) or `timeout` ms pass; asserts the last answer. */
async function eventually(read, expected, timeout = 10_000) {
  const until = Date.now() + timeout;
  let seen = await read();
  while (!isDeepEqual(seen, expected) && Date.now() < until) {
    await new Promise((done) => setTimeout(done, 100));
    seen = await read();
  }
  assert.deepEqual(seen, expected);
}
const isDeepEqual = (a, b) => {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
};

describe("the one command", () => {
  test("makes a demo project per example once, with Stripe connected, and keeps its keys in the state folder", async () => {
    assert.match(apps.saas.output(), /made now/);
    assert.notEqual(apps.saas.keys.projectId, apps.store.keys.projectId);
    // Run again, it reuses the kept project; a key the stack no longer knows makes a new one.
    const again = await exampleKeys("saas", { baseUrl, stateDir: state, env: {} });
    assert.equal(again.made, false);
    assert.equal(again.projectId, apps.saas.keys.projectId);
    const dir = mkdtempSync(join(tmpdir(), "tollgate-examples-keys-"));
    try {
      const forgotten = { saas: { ...apps.saas.keys, secretKey: "sk_test_00000000000000000000000000000000" } };
      writeFileSync(join(dir, "examples.json"), JSON.stringify(forgotten));
      const remade = await exampleKeys("saas", { baseUrl, stateDir: dir, env: {} });
      assert.equal(remade.made, true);
      assert.notEqual(remade.projectId, apps.saas.keys.projectId);
      assert.equal((await new Tollgate({ secretKey: remade.secretKey, baseUrl }).catalog.tiers()).length, EXAMPLES.saas.tiers.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Keys from the environment are used as they are, and half a pair is refused.
    const given = await exampleKeys("store", { baseUrl, stateDir: state, env: { TOLLGATE_SECRET_KEY: "sk_test_x", TOLLGATE_PUBLISHABLE_KEY: "pk_test_y" } });
    assert.deepEqual([given.secretKey, given.publishableKey, given.made], ["sk_test_x", "pk_test_y", false]);
    await assert.rejects(exampleKeys("store", { baseUrl, stateDir: state, env: { TOLLGATE_SECRET_KEY: "sk_test_x" } }), /both/);
  });

  test("serves the app with a strict CSP and the backend's config, never the secret key", async () => {
    const page = await fetch(`${apps.saas.url}/`);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.equal(page.status, 200);
    assert.match(csp, /script-src 'self'/);
    assert.ok(csp.includes(`connect-src 'self' ${baseUrl}`), csp);
    const config = await (await fetch(`${apps.saas.url}/config.json`)).json();
    assert.deepEqual(config, { publishableKey: apps.saas.keys.publishableKey, baseUrl });
    // No token without a session, and a forged session cookie is no session.
    assert.equal((await fetch(`${apps.saas.url}/tollgate-token`)).status, 401);
    const forged = await fetch(`${apps.saas.url}/tollgate-token`, { headers: { Cookie: "example_session=cus_x.AAAA" } });
    assert.equal(forged.status, 401);
    for (const path of ["/", "/config.json", "/assets/", "/session"]) {
      const text = await (await fetch(`${apps.saas.url}${path}`)).text();
      assert.ok(!text.includes(apps.saas.keys.secretKey), `${path} leaks the secret key`);
    }
  });
});

describe("the saas example", () => {
  test("sign up, meter until the paywall, buy Pro in the hosted checkout, the limit rises, the billing portal opens", async () => {
    const { page, problems } = await tab();
    const sandbox = stack.urls["stripe-sandbox"];
    const email = "ada@example.test";
    await signUp(page, apps.saas.url, email);
    const meter = page.getByRole("meter");
    await meter.and(page.locator('[aria-valuetext="0 of 3 used"]')).waitFor();
    assert.equal(await page.getByTestId("plan").textContent(), "Free");
    assert.equal(await page.getByRole("button", { name: "Manage billing" }).count(), 0, "no billing portal before paying");

    // Three names use the free allowance; the paywall then takes the generator's place.
    const names = page.getByRole("list", { name: "Your names" }).getByRole("listitem");
    for (let n = 1; n <= 3; n++) {
      await page.getByLabel("What does your product do?").fill("meters API calls for developers");
      await page.getByRole("button", { name: "Generate a name" }).click();
      await eventually(() => names.count(), n);
    }
    await page.getByRole("region", { name: "Upgrade required" }).getByTestId("out-of-names").waitFor();
    await axe(page, "the paywall and the pricing table");
    assert.equal(await meter.getAttribute("aria-valuenow"), "3");
    assert.equal(await page.getByRole("button", { name: "Generate a name" }).count(), 0);
    const [customer] = (await apps.saas.tollgate.customers.list({ email })).data;
    assert.equal((await apps.saas.tollgate.usage.check({ userId: customer.id })).count, 3, "the server counted every name");
    await assert.rejects(apps.saas.tollgate.usage.track({ userId: customer.id }), UsageLimitError);

    // The pricing table: the popular tier highlighted, the current plan marked; Pro is bought on the sandbox's page.
    const pro = page.locator('[data-tier="pro"]');
    assert.match(await pro.getAttribute("class"), /tg-tier--popular/);
    assert.equal(await page.locator('[data-tier="free"]').getAttribute("aria-current"), "true");
    await Promise.all([page.waitForURL((url) => url.toString().startsWith(sandbox)), pro.getByRole("button", { name: "Choose Pro" }).click()]);
    await Promise.all([page.waitForURL(`${apps.saas.url}/**`), page.click("#pay")]);
    await page.locator('[data-testid="checkout-return"][data-paid="true"]').waitFor();
    assert.equal(await page.getByTestId("checkout-return").textContent(), "Payment received: you are on Pro now.");
    await page.locator('[role="meter"][aria-valuemax="100"]').waitFor();
    assert.equal(await page.getByTestId("plan").textContent(), "Pro");
    assert.equal(new URL(page.url()).search, "", "the session leaves the address once followed");
    const usage = await apps.saas.tollgate.usage.check({ userId: customer.id });
    assert.deepEqual([usage.plan, usage.limit], ["pro", 100]);

    // The feature is open again (on the page Stripe sent back to) and counts against the new limit.
    await page.getByRole("button", { name: "Generate a name" }).click();
    await eventually(() => names.count(), 1);
    await eventually(() => meter.getAttribute("aria-valuetext"), "1 of 100 used");

    // The billing portal shows the subscription and returns to the app.
    await Promise.all([page.waitForURL((url) => url.toString().startsWith(`${sandbox}/portal/`)), page.getByRole("button", { name: "Manage billing" }).click()]);
    assert.match(await page.locator("body").textContent(), /Signed in as ada@example\.test/);
    assert.match(await page.locator("table").textContent(), /active/);
    await Promise.all([page.waitForURL(`${apps.saas.url}/`), page.click("#return")]);
    await page.getByTestId("plan").filter({ hasText: "Pro" }).waitFor();
    assert.deepEqual(problems, []);
    await page.close();
  });
});

describe("the store example", () => {
  test("a cart from the grid, paid in the hosted checkout; the thank-you page turns paid live; the file downloads; stock goes down", async () => {
    const { page, problems } = await tab();
    const sandbox = stack.urls["stripe-sandbox"];
    await signUp(page, apps.store.url, "sam@example.test");
    const founders = page.locator('[data-product="founders"]');
    await founders.waitFor();
    assert.equal(await founders.locator(".tg-product__stock").textContent(), "25 left");
    assert.equal(await page.locator(".tg-product").count(), EXAMPLES.store.products.length);
    assert.match(await founders.locator("img").getAttribute("src"), new RegExp(`^${baseUrl}/assets/public/`));
    // The product image loads from the one origin (the page's CSP allows it).
    await eventually(() => founders.locator("img").evaluate((img) => img.complete && img.naturalWidth), 240);

    await page.getByRole("button", { name: "Add Founders' edition to cart" }).click();
    await page.getByRole("button", { name: "One more Founders' edition" }).click();
    await page.getByRole("button", { name: "Add The API pricing guide to cart" }).click();
    assert.equal(await page.getByLabel("Founders' edition quantity").textContent(), "2");
    await axe(page, "the product grid and its cart");
    await Promise.all([page.waitForURL((url) => url.toString().startsWith(sandbox)), page.getByRole("button", { name: "Checkout" }).click()]);
    const sessionId = new URL(page.url()).pathname.split("/").find((part) => part.startsWith("cs_"));
    assert.match(sessionId ?? "", /^cs_/);

    // A second tab already on the thank-you page waits for the payment, then turns paid by itself.
    const watcher = (await tab()).page;
    await watcher.goto(`${apps.store.url}/thanks?session=${sessionId}`);
    await watcher.locator('[data-testid="order-status"][data-status="open"]').waitFor();
    assert.equal(await watcher.getByTestId("order-status").getAttribute("data-paid"), "false");
    await watcher.evaluate(() => (window.stillTheSamePage = true));

    await Promise.all([page.waitForURL(`${apps.store.url}/thanks?session=${sessionId}`), page.click("#pay")]);
    await page.locator('[data-testid="order-status"][data-paid="true"]').waitFor();
    await watcher.locator('[data-testid="order-status"][data-paid="true"]').waitFor({ timeout: 15_000 });
    assert.equal(await watcher.evaluate(() => window.stillTheSamePage), true, "the watcher turned paid without a reload");
    assert.equal(await watcher.getByRole("heading", { level: 1 }).textContent(), "Thank you!");
    await watcher.close();

    const order = page.getByRole("list", { name: "Your order" }).getByRole("listitem");
    await eventually(async () => (await order.allTextContents()).sort(), ["1 × The API pricing guideDownload", "2 × Founders' editionDownload"]);
    await axe(page, "the thank-you page");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download Founders' edition" }).click()]);
    const spec = EXAMPLES.store.products.find((p) => p.name === "founders");
    assert.equal(download.suggestedFilename(), spec.file.filename);
    assert.deepEqual(readFileSync(await download.path()), fileBytes(spec));

    // Two founders' editions left the stock; the unlimited guide has none to lose.
    const developer = await signIn(stack, "demo-developer");
    const products = await stack.call("catalog", "GET", `/v1/projects/${apps.store.keys.projectId}/products`, { headers: { Authorization: `Bearer ${developer.token}` } });
    assert.equal(products.status, 200, products.text);
    const stock = Object.fromEntries(products.body.data.map((p) => [p.name, p.inventory]));
    assert.deepEqual(stock, { guide: null, templates: null, founders: 23 });

    // Back in the shop, the library offers both purchases.
    await page.getByRole("link", { name: "Back to the shop" }).click();
    const library = page.getByRole("region", { name: "Your files" });
    await library.waitFor();
    await eventually(async () => (await library.getByRole("listitem").allTextContents()).sort(), ["Founders' editionDownload", "The API pricing guideDownload"]);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
