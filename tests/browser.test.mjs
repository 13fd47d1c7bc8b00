// Tollgate's own workers in a real headless Chromium, as the console uses them from its
// origin: a PUT route through CORS, and Connect onboarding bound to the browser that started
// it (the catalog's Secure cookie on http://127.0.0.1, which browsers treat as secure).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser, startApp } from "./support/browser.mjs";
import { createProject, signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";

let stack;
let consoleApp;
let strangerApp;
let chrome;

before(async () => {
  consoleApp = await startApp();
  strangerApp = await startApp();
  stack = await testStack({ vars: { CONSOLE_ORIGINS: consoleApp.url } });
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  await consoleApp?.close();
  await strangerApp?.close();
  await stack?.stop();
});

/** A tab on `app`'s origin, where the page's own scripts run. */
async function pageOn(browser, app) {
  const page = await browser.newPage();
  await page.goto(`${app.url}/console`);
  return page;
}

describe("CORS from the console's origin", () => {
  test("a page on an allowed origin calls a PUT route with fetch and it succeeds", async () => {
    const dev = await signIn(stack, "browser_put");
    const { project } = await createProject(dev);
    const page = await pageOn(chrome.browser, consoleApp);

    const answer = await page.evaluate(
      async ({ url, token }) => {
        const res = await fetch(url, {
          method: "PUT",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
          body: JSON.stringify({ origins: ["https://shop.example"] }),
        });
        return { status: res.status, body: await res.json() };
      },
      { url: `${stack.urls.platform}/v1/projects/${project.id}/redirect-origins`, token: dev.token },
    );

    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.data.origins, ["https://shop.example"]);
    const stored = await dev.call("GET", `/v1/projects/${project.id}/redirect-origins`);
    assert.deepEqual(stored.body.data.origins, ["https://shop.example"]);
    await page.close();
  });

  test("a page on another origin cannot, and changes nothing", async () => {
    const dev = await signIn(stack, "browser_put_stranger");
    const { project } = await createProject(dev);
    const page = await pageOn(chrome.browser, strangerApp);

    const outcome = await page.evaluate(
      async ({ url, token }) => {
        try {
          await fetch(url, {
            method: "PUT",
            headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
            body: JSON.stringify({ origins: ["https://evil.example"] }),
          });
          return "answered";
        } catch (error) {
          return error.name;
        }
      },
      { url: `${stack.urls.platform}/v1/projects/${project.id}/redirect-origins`, token: dev.token },
    );

    assert.equal(outcome, "TypeError");
    const stored = await dev.call("GET", `/v1/projects/${project.id}/redirect-origins`);
    assert.deepEqual(stored.body.data.origins, []);
    await page.close();
  });
});

describe("Connect in the browser", () => {
  test("Connect started in one browser cannot be finished in another; the browser that started it can", async () => {
    const dev = await signIn(stack, "browser_connect");
    const developerPage = await pageOn(chrome.browser, consoleApp);
    // The console's way in: fetch with credentials, so the browser keeps the catalog's cookie.
    const consentUrl = await developerPage.evaluate(
      async ({ url, token }) => {
        const res = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" }, credentials: "include" });
        return (await res.json()).data.url;
      },
      { url: `${stack.urls.catalog}/authorize?mode=test`, token: dev.token },
    );
    const [kept] = (await chrome.browser.cookies(stack.urls.catalog)).filter((c) => c.name === "__Host-tollgate_connect");
    assert.ok(kept, "Chromium keeps the Secure cookie on http://127.0.0.1");
    assert.deepEqual([kept.httpOnly, kept.secure, kept.sameSite, kept.path], [true, true, "Lax", "/"]);
    // Another browser (a victim lured to the consent link) clicks Connect on Stripe's page.
    const other = await launchBrowser();
    try {
      const victim = await other.browser.newPage();
      await victim.goto(consentUrl);
      await Promise.all([victim.waitForURL(`${stack.urls.catalog}/callback**`), victim.click("#connect")]);
      const refused = JSON.parse(await victim.textContent("body"));
      const callbackUrl = victim.url();
      const afterRefusal = (await stack.call("catalog", "GET", "/v1/stripe/connections", { headers: { Authorization: `Bearer ${dev.token}` } })).body.total;

      await developerPage.goto(callbackUrl);
      const finished = JSON.parse(await developerPage.textContent("body"));

      assert.equal(refused.code, "connect_browser_mismatch");
      assert.equal(afterRefusal, 0, "the other browser stored nothing");
      assert.equal(finished.data.status, "connected");
      const cookies = await chrome.browser.cookies(stack.urls.catalog);
      assert.deepEqual(cookies.filter((c) => c.name === "__Host-tollgate_connect"), [], "the cookie is cleared once used");
    } finally {
      await other.close();
    }
  });
});
