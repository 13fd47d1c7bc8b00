//! The provider: one browser client, and the end user's usage and the catalog shared by every hook and component below it.

import { TollgateBrowser, type Tier, type TollgateBrowserOptions, type UsageAnswer } from "@tollgate/sdk/browser";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";

export interface TollgateState {
  client: TollgateBrowser;
  /** The end user's usage as the server last answered it (or optimistically ahead of it). */
  usage: UsageAnswer | undefined;
  setUsage: (update: (usage: UsageAnswer | undefined) => UsageAnswer | undefined) => void;
  /** Reads the usage again from the server. */
  refreshUsage: () => Promise<void>;
  tiers: Tier[] | undefined;
  error: unknown;
  /** Whether an end user is signed in (a token provider was given). */
  signedIn: boolean;
}

const Context = createContext<TollgateState | undefined>(undefined);

export type TollgateProviderProps = { children?: ReactNode } & (
  | { client: TollgateBrowser }
  | (TollgateBrowserOptions & { client?: undefined })
);

/**
 * Makes a Tollgate browser client available to the hooks and components inside it. Give it
 * a `client`, or the client's options (`publishableKey`, `baseUrl`, `getEndUserToken`).
 * Leave `getEndUserToken` out on pages without a signed-in end user (pricing, storefront).
 */
export function TollgateProvider(props: TollgateProviderProps) {
  const { children, client: given, ...options } = props as TollgateProviderProps & TollgateBrowserOptions & { client?: TollgateBrowser };
  // The client is made once per key and origin: a new token provider function on every render must not reset it.
  const client = useMemo(() => given ?? new TollgateBrowser(options), [given, options.publishableKey, options.baseUrl]);
  const signedIn = given ? true : Boolean(options.getEndUserToken);
  const [usage, setUsageState] = useState<UsageAnswer | undefined>();
  const [tiers, setTiers] = useState<Tier[] | undefined>();
  const [error, setError] = useState<unknown>();

  const refreshUsage = useCallback(async () => {
    if (!signedIn) return;
    try {
      setUsageState(await client.usage.check());
    } catch (e) {
      setError(e);
    }
  }, [client, signedIn]);

  useEffect(() => {
    void refreshUsage();
    client.catalog.tiers().then(setTiers, setError);
  }, [client, refreshUsage]);

  const value = useMemo<TollgateState>(
    () => ({ client, usage, setUsage: setUsageState, refreshUsage, tiers, error, signedIn }),
    [client, usage, refreshUsage, tiers, error, signedIn],
  );
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

/** The provider's state; throws outside a `<TollgateProvider>`. */
export function useTollgate(): TollgateState {
  const state = useContext(Context);
  if (!state) throw new Error("Tollgate hooks and components must be inside <TollgateProvider>");
  return state;
}
