//! The signed-in developer, held in memory only: a reload or a closed tab signs out. Never
//! written to localStorage, sessionStorage or a URL.
import { useSyncExternalStore } from "react";
import { jwtClaims } from "./pkce";

export interface Session {
  accessToken: string;
  expiresAt: number;
  subject: string;
  email: string | null;
}

let current: Session | null = null;
const listeners = new Set<() => void>();

export function sessionFromTokens(accessToken: string, idToken: string | undefined, expiresIn: number | undefined): Session {
  const claims = { ...jwtClaims(accessToken), ...(idToken ? jwtClaims(idToken) : {}) };
  return {
    accessToken,
    expiresAt: Date.now() + (expiresIn ?? 3600) * 1000,
    subject: typeof claims.sub === "string" ? claims.sub : "developer",
    email: typeof claims.email === "string" ? claims.email : null,
  };
}

export function setSession(next: Session | null): void {
  current = next;
  for (const l of listeners) l();
}

export function getSession(): Session | null {
  return current;
}

export function useSession(): Session | null {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => current,
  );
}
