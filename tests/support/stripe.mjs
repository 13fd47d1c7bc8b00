// The Stripe side of tests: the sandbox's Stripe API called as Stripe's own clients would,
// and the Connect round trip a developer clicks through (consent page → callback).

import { devSecrets } from "../../scripts/stack.mjs";

/** Calls the sandbox's Stripe API with the platform key of `mode`, on `account` if given. */
export async function stripeApi(stack, method, path, { mode = "test", account, form } = {}) {
  const secrets = devSecrets(stack.dir);
  const key = mode === "live" ? secrets.STRIPE_SECRET_KEY_LIVE : secrets.STRIPE_SECRET_KEY_TEST;
  const headers = { Authorization: `Bearer ${key}` };
  if (account) headers["Stripe-Account"] = account;
  const init = { method, headers };
  if (form) {
    init.body = new URLSearchParams(form).toString();
    headers["Content-Type"] = "application/x-www-form-urlencoded";
  }
  const res = await fetch(`${stack.urls["stripe-sandbox"]}${path}`, init);
  return { status: res.status, body: await res.json() };
}

/** The fields of the consent page's form whose submit button reads `label`. */
function consentForm(html, label) {
  for (const [, attributes, inner] of html.matchAll(/<form([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const action = /action="([^"]*)"/i.exec(attributes)?.[1];
    const fields = {};
    for (const [tag] of inner.matchAll(/<input[^>]*>/gi)) {
      const name = /name="([^"]*)"/i.exec(tag)?.[1];
      if (name) fields[name] = (/value="([^"]*)"/i.exec(tag)?.[1] ?? "").replaceAll("&amp;", "&").replaceAll("&quot;", '"');
    }
    for (const [, attrs, body] of inner.matchAll(/<button([^>]*)>([\s\S]*?)<\/button>/gi)) {
      if (!body.includes(label)) continue;
      const name = /name="([^"]*)"/i.exec(attrs)?.[1];
      if (name) fields[name] = /value="([^"]*)"/i.exec(attrs)?.[1] ?? "";
      return { action: action?.replaceAll("&amp;", "&"), fields };
    }
  }
  throw new Error(`no form with a "${label}" button on the consent page`);
}

/**
 * Clicks through Stripe's consent page at `url` (`label` "Connect" or "Cancel") and returns
 * where Stripe sends the browser back: the callback URL with `code` (or `error`) and `state`.
 */
export async function consent(url, label = "Connect") {
  const page = await fetch(url);
  const html = await page.text();
  if (page.status !== 200) throw new Error(`consent page: ${page.status} ${html.slice(0, 200)}`);
  const { action, fields } = consentForm(html, label);
  const target = new URL(action ?? url, url);
  const res = await fetch(target, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  });
  await res.arrayBuffer();
  const location = res.headers.get("location");
  if (!location) throw new Error(`consent answered ${res.status} without a redirect`);
  return new URL(location, target).toString();
}

/** The `Cookie` header a browser would send back for the cookies a response set. */
export function cookieFrom(response) {
  return response.headers
    .getSetCookie()
    .map((line) => line.split(";")[0])
    .join("; ");
}

/**
 * Starts Connect as `developer`'s browser does: `/authorize` answers the consent URL and sets
 * the browser cookie the callback needs. Returns the answer, that URL and the `Cookie` header.
 */
export async function startConnect(stack, developer, mode = "test") {
  const start = await stack.call("catalog", "GET", `/authorize?mode=${mode}`, {
    headers: { Authorization: `Bearer ${developer.token}` },
    redirect: "manual",
  });
  if (start.status !== 302) throw new Error(`authorize: ${start.status} ${start.text}`);
  return { start, consentUrl: start.headers.get("location"), cookie: cookieFrom(start) };
}

/** Connects a sandbox account for `developer` in `mode`; returns the connection and the callback URL used. */
export async function connectStripe(stack, developer, mode = "test") {
  const { consentUrl, cookie } = await startConnect(stack, developer, mode);
  const back = await consent(consentUrl);
  const path = back.slice(stack.urls.catalog.length);
  const done = await stack.call("catalog", "GET", path, { headers: { Cookie: cookie } });
  if (done.status !== 200) throw new Error(`callback: ${done.status} ${done.text}`);
  return { connection: done.body.data, callbackPath: path, authorizeUrl: consentUrl, cookie };
}
