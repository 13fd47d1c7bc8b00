// The console's measures for `npm run bench`: the first-load JS (gzip -9, as the build counts
// it) and the time to the dashboard's first meaningful paint in headless Chromium — from the
// start of the navigation that returns from the sign-in form until the project's metric cards
// and its usage chart are drawn: config, code exchange, the project, the dashboard and the
// uPlot chunk, with a cold cache each time. The median of `samples`.

import { launchBrowser } from "../tests/support/browser.mjs";
import { measure } from "./console.mjs";

export async function benchConsole({ platformUrl, projectId, sub, samples = 5 }) {
  const firstLoad = measure().total;
  const chrome = await launchBrowser();
  const times = [];
  try {
    for (let i = 0; i < samples; i++) {
      // A new tab is signed out (the token lives in memory); the cache is emptied too.
      const page = await chrome.browser.newPage();
      const cdp = await chrome.browser.newCDPSession(page);
      await cdp.send("Network.clearBrowserCache");
      await page.goto(`${platformUrl}/console/test/projects/${projectId}/dashboard`);
      await page.click('button:has-text("Sign in")');
      await page.fill('input[name="sub"]', sub);
      await page.click('button:has-text("Sign in")');
      await page.waitForSelector('[data-testid="metric-usage"]');
      await page.waitForSelector('[data-testid="chart-usage"] canvas');
      // performance.now() counts from the start of this document's navigation: the form's
      // POST and its redirect back to the callback.
      times.push(await page.evaluate(() => performance.now()));
      await page.close();
    }
  } finally {
    await chrome.close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { firstLoad, medianMs: sorted[Math.floor(sorted.length / 2)], samples: times.length };
}
