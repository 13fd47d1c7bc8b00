//! PKCE (RFC 7636, S256) and the authorize URL: pure functions over WebCrypto.

/** base64url without padding, as PKCE and JWTs spell it. */
export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A random value of `bytes` bytes: 32 gives a 43-character verifier, the RFC's minimum. */
export function randomToken(bytes = 32): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return base64url(buf);
}

export async function challengeFor(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export interface AuthorizeRequest {
  authorizationEndpoint: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  audience: string;
  state: string;
  codeChallenge: string;
  /** A fresh sign-in: the provider must ask again, whatever session it holds. */
  fresh?: boolean;
}

export function authorizeUrl(req: AuthorizeRequest): string {
  const url = new URL(req.authorizationEndpoint);
  const q = url.searchParams;
  q.set("response_type", "code");
  q.set("client_id", req.clientId);
  q.set("redirect_uri", req.redirectUri);
  q.set("scope", req.scope);
  q.set("state", req.state);
  q.set("code_challenge", req.codeChallenge);
  q.set("code_challenge_method", "S256");
  // Auth0 issues an opaque token without `audience`; other providers ignore it.
  if (req.audience) q.set("audience", req.audience);
  if (req.fresh) {
    q.set("prompt", "login");
    q.set("max_age", "0");
  }
  return url.toString();
}

/** The body of the code exchange, as a form (token endpoints take no JSON). */
export function tokenRequestBody(p: { code: string; redirectUri: string; clientId: string; verifier: string }): URLSearchParams {
  return new URLSearchParams({
    grant_type: "authorization_code",
    code: p.code,
    redirect_uri: p.redirectUri,
    client_id: p.clientId,
    code_verifier: p.verifier,
  });
}

/** The claims of a JWT's payload, unverified: the console only reads names from it. */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (!part) return {};
  try {
    const padded = part.replace(/-/g, "+").replace(/_/g, "/");
    const json = atob(padded + "=".repeat((4 - (padded.length % 4)) % 4));
    return JSON.parse(decodeURIComponent(escape(json))) as Record<string, unknown>;
  } catch {
    return {};
  }
}
