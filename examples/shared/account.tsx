//! What both example apps share in the page: the config and session from their own backend,
//! the end-user token provider, the sign-up form and the account bar. Only the app's backend
//! is called here; everything that goes to Tollgate goes through @tollgate/react and the SDK.

import { useId, useState, type FormEvent, type ReactNode } from "react";
import type { EndUserTokenGrant } from "@tollgate/sdk/browser";

/** What the page needs to reach Tollgate (from the backend's /config.json). */
export interface AppConfig {
  publishableKey: string;
  baseUrl: string;
}

/** The signed-in end user: their Tollgate customer id and email. */
export interface User {
  id: string;
  email: string;
}

async function backend<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined as T;
  const answer = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(answer.error ?? `The app's backend answered ${res.status}`);
  return answer;
}

/** The config and who is signed in, before the first render. */
export async function loadApp(): Promise<{ config: AppConfig; user: User | null }> {
  const [config, session] = await Promise.all([backend<AppConfig>("GET", "/config.json"), backend<{ user: User | null }>("GET", "/session")]);
  return { config, user: session.user };
}

/**
 * The token provider for `<TollgateProvider getEndUserToken>`: the backend mints a token for
 * the signed-in end user, and the browser client asks again shortly before it expires.
 */
export const getEndUserToken = (): Promise<EndUserTokenGrant> => backend<EndUserTokenGrant>("GET", "/tollgate-token");

/** An email form that signs up (or back in) and answers the user. */
export function SignUp({ title, pitch, onSignedIn }: { title: string; pitch: ReactNode; onSignedIn: (user: User) => void }) {
  const [email, setEmail] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const heading = useId();
  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn((await backend<{ user: User }>("POST", "/session", { email })).user);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section className="card signup" aria-labelledby={heading}>
      <h1 id={heading}>{title}</h1>
      <p className="muted">{pitch}</p>
      <form onSubmit={(e) => void submit(e)} aria-label="Sign up">
        <label>
          Email
          <input type="email" name="email" required autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <button type="submit" className="tg-button tg-button--primary" disabled={busy}>
          Create account
        </button>
        <p className="muted small">Already have one? The same email signs you back in.</p>
      </form>
      {error && (
        <p className="tg-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

/** The signed-in end user's email, the app's own account actions, and sign-out. */
export function AccountBar({ user, onSignedOut, children }: { user: User; onSignedOut: () => void; children?: ReactNode }) {
  return (
    <div className="account">
      <span className="account__email" data-testid="signed-in-as">
        {user.email}
      </span>
      {children}
      <button type="button" className="link" onClick={() => void backend("DELETE", "/session").then(onSignedOut)}>
        Sign out
      </button>
    </div>
  );
}
