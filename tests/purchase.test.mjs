// The whole browser path of a purchase: the developer's backend opens a subscription
// checkout, a buyer pays on the hosted page in headless Chromium, lands on the app's success
// page, and the signed webhook moves the end user onto the paid tier's limit.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startApp } from "./support/browser.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe } from "./support/stripe.mjs";

let stack;
let chrome;
let app;
before(async () => {
  stack = await testStack();
  app = await startApp();
  chrome = await launchBrowser();
});
after(async () => {
  await chrome?.close();
  await app?.close();
  await stack?.stop();
});

test("a buyer pays in the browser and the end user's plan and limit follow", async () => {
  const dev = await signIn(stack, "dev_purchase");
  await connectStripe(stack, dev, "test");
  const project = await createProject(dev, { name: "Browser shop", type: "saas" });
  const catalog = (body) => stack.call("catalog", "POST", `/v1/projects/${project.project.id}/tiers`, { headers: { Authorization: `Bearer ${dev.token}` }, body });
  await catalog({ name: "free", displayName: "Free", price: 0, limit: 3 });
  await catalog({ name: "pro", displayName: "Pro", price: 900, limit: 1000 });
  const server = (method, path, options = {}) =>
    stack.call("api", method, path, { ...options, headers: { Authorization: `Bearer ${project.secretKey}`, ...options.headers } });
  const user = (await server("POST", "/api/customers", { body: { email: "browser-buyer@example.test" } })).body.data;
  const usage = async () => (await server("GET", "/api/usage", { headers: { "X-User-Id": user.id } })).body;
  const before = await usage();
  const started = await server("POST", "/api/create-checkout", {
    headers: { "X-User-Id": user.id },
    body: { tier: "pro", successUrl: `${app.url}/success?session={CHECKOUT_SESSION_ID}`, cancelUrl: `${app.url}/pricing` },
  });
  assert.equal(started.status, 200, started.text);

  const page = await chrome.browser.newPage();
  try {
    await page.goto(started.body.url);
    await Promise.all([page.waitForURL(`${app.url}/success**`), page.click("#pay")]);
    assert.equal(await page.locator("#query").textContent(), `session=${started.body.sessionId}`);
  } finally {
    await page.close();
  }
  let after = await usage();
  for (let i = 0; i < 50 && after.plan !== "pro"; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await usage();
  }

  assert.deepEqual([before.plan, before.limit], ["free", 3]);
  assert.deepEqual([after.plan, after.limit], ["pro", 1000]);
  const status = await stack.call("api", "GET", `/api/checkout/${started.body.sessionId}`, { headers: { "X-Publishable-Key": project.project.publishableKey } });
  assert.deepEqual([status.body.status, status.body.paid], ["complete", true]);
});
