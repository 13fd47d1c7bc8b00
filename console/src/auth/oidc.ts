//! OIDC Authorization Code + PKCE against the configured issuer: a full redirect to sign in,
//! and a popup for a fresh sign-in so the page (and the action waiting for it) survives.
import type { ConsoleConfig } from "../config";
import { authorizeUrl, challengeFor, randomToken, tokenRequestBody } from "./pkce";
import { type Session, sessionFromTokens, setSession } from "./session";

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

/** The verifier and state live here only for the redirect's round trip. */
const PENDING_KEY = "tollgate.signin";
const MESSAGE_TYPE = "tollgate:oidc-callback";

let discovery: Promise<Discovery> | null = null;

function discover(config: ConsoleConfig): Promise<Discovery> {
  discovery ??= fetch(`${config.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`).then(async (res) => {
    if (!res.ok) throw new Error(`The identity provider's discovery answered ${res.status}.`);
    const doc = (await res.json()) as Partial<Discovery>;
    if (!doc.authorization_endpoint || !doc.token_endpoint) throw new Error("The identity provider's discovery lacks its endpoints.");
    return { authorization_endpoint: doc.authorization_endpoint, token_endpoint: doc.token_endpoint };
  });
  discovery.catch(() => (discovery = null));
  return discovery;
}

function redirectUri(config: ConsoleConfig): string {
  return `${window.location.origin}${config.redirectPath}`;
}

async function exchange(config: ConsoleConfig, code: string, verifier: string): Promise<Session> {
  const { token_endpoint } = await discover(config);
  const res = await fetch(token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: tokenRequestBody({ code, redirectUri: redirectUri(config), clientId: config.clientId, verifier }),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok || typeof body.access_token !== "string") {
    const why = typeof body.error_description === "string" ? body.error_description : typeof body.error === "string" ? body.error : `status ${res.status}`;
    throw new Error(`Sign-in failed: ${why}.`);
  }
  return sessionFromTokens(body.access_token, typeof body.id_token === "string" ? body.id_token : undefined, typeof body.expires_in === "number" ? body.expires_in : undefined);
}

/** Sends the browser to the issuer; `returnTo` is the console path to come back to. */
export async function beginSignIn(config: ConsoleConfig, returnTo: string): Promise<void> {
  const { authorization_endpoint } = await discover(config);
  const state = randomToken();
  const verifier = randomToken();
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ state, verifier, returnTo }));
  window.location.assign(
    authorizeUrl({
      authorizationEndpoint: authorization_endpoint,
      clientId: config.clientId,
      redirectUri: redirectUri(config),
      scope: config.scope,
      audience: config.audience,
      state,
      codeChallenge: await challengeFor(verifier),
    }),
  );
}

/** On the callback page of a full-page sign-in: exchanges the code, answers where to go. */
export async function completeSignIn(config: ConsoleConfig): Promise<string> {
  const params = new URLSearchParams(window.location.search);
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  // The code must not linger in history or reach a Referer.
  window.history.replaceState(null, "", config.redirectPath);
  const pending = raw ? (JSON.parse(raw) as { state: string; verifier: string; returnTo: string }) : null;
  const error = params.get("error");
  if (error) throw new Error(`Sign-in was not completed: ${params.get("error_description") ?? error}.`);
  const code = params.get("code");
  if (!pending || !code || params.get("state") !== pending.state) throw new Error("This sign-in link is not the one this tab started. Sign in again.");
  setSession(await exchange(config, code, pending.verifier));
  return pending.returnTo.startsWith("/") ? pending.returnTo : "/";
}

/**
 * In a popup that the issuer sent back to the callback: hands the code to the opener (this
 * origin only) and closes. Answers false when this window is not such a popup.
 */
export function relayPopupCallback(): boolean {
  const opener = window.opener as Window | null;
  if (!opener || sessionStorage.getItem(PENDING_KEY)) return false;
  const params = new URLSearchParams(window.location.search);
  if (!params.has("state")) return false;
  opener.postMessage(
    { type: MESSAGE_TYPE, code: params.get("code"), state: params.get("state"), error: params.get("error") },
    window.location.origin,
  );
  window.close();
  return true;
}

/**
 * A fresh sign-in (prompt=login, max_age=0) in a popup. Must be called from a click: the
 * window is opened before anything is awaited so no blocker stops it.
 */
export function freshSignIn(config: ConsoleConfig): Promise<Session> {
  const popup = window.open("about:blank", "tollgate-signin", "popup,width=480,height=640");
  if (!popup) return Promise.reject(new Error("The browser blocked the sign-in window. Allow pop-ups for the console and try again."));
  const state = randomToken();
  const verifier = randomToken();
  return new Promise<Session>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      window.removeEventListener("message", onMessage);
      window.clearInterval(watch);
      fn();
    };
    const onMessage = (event: MessageEvent) => {
      if (event.origin !== window.location.origin || event.source !== popup) return;
      const data = event.data as { type?: string; code?: string | null; state?: string | null; error?: string | null };
      if (data?.type !== MESSAGE_TYPE) return;
      if (data.state !== state) return finish(() => reject(new Error("The sign-in window answered for another request.")));
      if (data.error || !data.code) return finish(() => reject(new Error("The fresh sign-in was not completed.")));
      const code = data.code;
      finish(() =>
        exchange(config, code, verifier).then((session) => {
          setSession(session);
          resolve(session);
        }, reject),
      );
    };
    const watch = window.setInterval(() => {
      if (popup.closed) window.setTimeout(() => finish(() => reject(new Error("The sign-in window was closed."))), 500);
    }, 400);
    window.addEventListener("message", onMessage);
    Promise.all([discover(config), challengeFor(verifier)]).then(
      ([d, challenge]) => {
        popup.location.href = authorizeUrl({
          authorizationEndpoint: d.authorization_endpoint,
          clientId: config.clientId,
          redirectUri: redirectUri(config),
          scope: config.scope,
          audience: config.audience,
          state,
          codeChallenge: challenge,
          fresh: true,
        });
      },
      (err: unknown) => finish(() => {
        popup.close();
        reject(err instanceof Error ? err : new Error(String(err)));
      }),
    );
  });
}
