// `npm run screenshots`: a seeded demo on a throw-away local stack, every console page
// photographed in headless Chromium into docs/console/ (1280 px wide, and the dashboard at
// 390 px), for docs/console.md. Run after a build (scripts/run.sh screenshots builds first).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchBrowser } from "../tests/support/browser.mjs";
import { testStack } from "../tests/support/stack.mjs";
import { signIn } from "../tests/support/developer.mjs";
import { connectStripe } from "../tests/support/stripe.mjs";
import { ROOT } from "./stack.mjs";

const OUT = join(ROOT, "docs", "console");
const DEVELOPER = "dev_demo";
mkdirSync(OUT, { recursive: true });

const stack = await testStack({ vars: { OPERATOR_SUBJECTS: DEVELOPER } });
const chrome = await launchBrowser();
try {
  const ids = await seed();
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const base = `${stack.urls.platform}/console`;
  await page.goto(`${base}/`);
  await page.click('button:has-text("Sign in")');
  await page.fill('input[name="sub"]', DEVELOPER);
  await page.fill('input[name="email"]', "demo@example.test");
  await page.click('button:has-text("Sign in")');
  await page.waitForSelector("header.top");

  // In-app navigation only: the sign-in lives in memory, so a reload would sign out.
  const go = async (path, ready) => {
    await page.evaluate((to) => {
      window.history.pushState(null, "", to);
      window.dispatchEvent(new PopStateEvent("popstate"));
    }, `/console${path}`);
    await page.waitForSelector(ready);
    await page.waitForLoadState("networkidle");
  };
  const shots = [
    ["projects", "/test/projects", "text=Demo SaaS"],
    ["dashboard", `/test/projects/${ids.saas}/dashboard`, '[data-testid="chart-usage"] canvas'],
    ["customers", `/test/projects/${ids.saas}/customers`, 'tr[data-customer="ada"]'],
    ["customer", `/test/projects/${ids.saas}/customers/${ids.ada}`, '[data-testid="customer-usage"] canvas'],
    ["keys", `/test/projects/${ids.saas}/keys`, "#sk-title"],
    ["catalog-tiers", `/test/projects/${ids.saas}/catalog`, 'tr[data-name="pro"]'],
    ["catalog-products", `/test/projects/${ids.store}/catalog`, 'tr[data-name="ebook"]'],
    ["webhooks", `/test/projects/${ids.saas}/webhooks`, "#deliveries-title"],
    ["audit", `/test/projects/${ids.saas}/audit`, 'table[aria-label="Audit events"]'],
    ["settings", `/test/projects/${ids.saas}/settings`, "#delete-title"],
    ["overview", "/test/overview", '[data-testid="metric-usage"]'],
    ["account", "/account", "#plan-title"],
    ["operators", "/operators", "#drift-title"],
  ];
  for (const [name, path, ready] of shots) {
    await go(path, ready);
    await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
    console.log(`docs/console/${name}.png`);
  }
  await page.setViewportSize({ width: 390, height: 844 });
  await go(`/test/projects/${ids.saas}/dashboard`, '[data-testid="chart-usage"] canvas');
  await page.screenshot({ path: join(OUT, "dashboard-390.png"), fullPage: true });
  console.log("docs/console/dashboard-390.png");
} finally {
  await chrome.close();
  await stack.stop();
}

/** The demo: a SaaS project with tiers, customers and usage; a Store project; a webhook endpoint. */
async function seed() {
  const dev = await signIn(stack, DEVELOPER, { email: "demo@example.test" });
  const auth = { Authorization: `Bearer ${dev.token}` };
  const must = async (worker, method, path, body, headers = auth) => {
    const res = await stack.call(worker, method, path, { headers, body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return res.body;
  };
  await connectStripe(stack, dev, "test");
  const saas = await must("platform", "POST", "/v1/projects", { name: "Demo SaaS", type: "saas" });
  const store = await must("platform", "POST", "/v1/projects", { name: "Demo Store", type: "store" });
  const sid = saas.data.project.id;
  await must("catalog", "POST", `/v1/projects/${sid}/tiers`, { name: "free", displayName: "Free", price: 0, limit: 100, features: ["100 calls a month"] });
  await must("catalog", "POST", `/v1/projects/${sid}/tiers`, { name: "pro", displayName: "Pro", price: 1900, limit: 10000, popular: true, features: ["10,000 calls", "Email support"] });
  await must("catalog", "POST", `/v1/projects/${store.data.project.id}/products`, { name: "ebook", displayName: "The e-book", price: 1200, inventory: 30 });
  await must("catalog", "POST", `/v1/projects/${store.data.project.id}/products`, { name: "poster", displayName: "Poster", price: 2500, inventory: 3 });
  const sk = { Authorization: `Bearer ${saas.data.secretKey}` };
  const customers = {};
  for (const [email, externalId, calls] of [["ada@example.test", "ada", 12], ["grace@example.test", "grace", 7], ["linus@example.test", "linus", 3]]) {
    customers[externalId] = (await must("api", "POST", "/api/customers", { email, externalId }, sk)).data.id;
    for (let i = 0; i < calls; i++) await must("api", "POST", "/api/data", undefined, { ...sk, "X-User-Id": externalId });
  }
  await must("webhooks", "POST", `/v1/projects/${sid}/webhook-endpoints`, { url: "https://example.com/hooks/tollgate", events: ["*"], description: "Production backend" });
  return { saas: sid, store: store.data.project.id, ada: customers.ada };
}
