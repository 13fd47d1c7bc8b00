//! The hooks: usage with optimistic tracking, the plan, and checkouts followed to paid.

import { UsageLimitError, type CheckoutState, type CheckoutStatus, type Tier, type TrackAnswer, type Usage } from "@tollgate/sdk/browser";
import { useCallback, useRef, useState } from "react";
import { useTollgate } from "./context.js";

const numeric = (v: number | "unlimited" | undefined): number | undefined => (typeof v === "number" ? v : undefined);

export interface UsageView {
  /** Units used this period (`undefined` until the first answer). */
  count: number | undefined;
  /** The period's allowance; `"unlimited"` for unlimited tiers. */
  limit: number | "unlimited" | undefined;
  remaining: number | "unlimited" | undefined;
  plan: string | undefined;
  loading: boolean;
  /** Whether the last `track()` was refused at the limit. */
  limited: boolean;
  /**
   * Counts `cost` units (default 1): the count moves at once, then takes the server's
   * answer (also at the limit, or after a failure, when it is read again). Answers whether
   * the call was allowed.
   */
  track: (cost?: number) => Promise<{ allowed: boolean; usage: Usage | undefined }>;
  /** Reads the usage from the server again. */
  refresh: () => Promise<void>;
}

/** The signed-in end user's usage this period, and `track()` to meter a call. */
export function useUsage(): UsageView {
  const { client, usage, setUsage, refreshUsage } = useTollgate();
  const [limited, setLimited] = useState(false);
  const track = useCallback(
    async (cost = 1) => {
      setUsage((u) => {
        if (!u) return u;
        const remaining = numeric(u.remaining);
        if (remaining !== undefined && remaining < cost) return u; // the server will refuse it: no optimistic step
        return { ...u, count: u.count + cost, usageCount: u.usageCount + cost, remaining: remaining === undefined ? u.remaining : remaining - cost };
      });
      try {
        const answer: TrackAnswer = await client.usage.track({ cost });
        setUsage((u) => (u ? { ...u, ...answer.usage } : { ...answer.usage, userId: "" }));
        setLimited(false);
        return { allowed: true, usage: answer.usage };
      } catch (error) {
        if (error instanceof UsageLimitError) {
          setLimited(true);
          if (error.usage) setUsage((u) => (u ? { ...u, ...error.usage } : u));
          return { allowed: false, usage: error.usage };
        }
        await refreshUsage();
        throw error;
      }
    },
    [client, setUsage, refreshUsage],
  );
  return {
    count: usage?.count,
    limit: usage?.limit,
    remaining: usage?.remaining,
    plan: usage?.plan,
    loading: usage === undefined,
    limited,
    track,
    refresh: refreshUsage,
  };
}

export interface PlanView {
  /** The end user's tier name, as metering resolves it. */
  plan: string | undefined;
  /** That tier from the catalog. */
  tier: Tier | undefined;
  /** Every tier of the project, for a pricing page. */
  tiers: Tier[] | undefined;
  loading: boolean;
  /** Whether the current tier lists `feature` among its features. */
  has: (feature: string) => boolean;
  refresh: () => Promise<void>;
}

/** The signed-in end user's plan and the project's tiers. */
export function usePlan(): PlanView {
  const { usage, tiers, refreshUsage } = useTollgate();
  const plan = usage?.plan;
  const tier = tiers?.find((t) => t.name === plan);
  return {
    plan,
    tier,
    tiers,
    loading: tiers === undefined || usage === undefined,
    has: (feature) => Boolean(tier?.features.includes(feature)),
    refresh: refreshUsage,
  };
}

export interface CheckoutView {
  /** `idle` before anything starts, then the session's states; `redirecting` while the page leaves for Stripe. */
  status: CheckoutState | "idle" | "starting" | "redirecting";
  /** The final status once followed to the end. */
  result: CheckoutStatus | undefined;
  paid: boolean;
  error: unknown;
  /**
   * Starts a subscription checkout for `tier` and sends the page to Stripe (or answers the
   * session without leaving with `redirect: false`). Return URLs default to this page.
   */
  start: (tier: string, options?: { successUrl?: string; cancelUrl?: string; redirect?: boolean }) => Promise<{ url: string; sessionId: string } | undefined>;
  /** Follows a session (from the success URL) to its end; the plan and usage are read again once it is. */
  follow: (sessionId: string, options?: { checkoutSecret?: string }) => Promise<CheckoutStatus | undefined>;
}

/** Starting a checkout and following it to paid over the live status stream. */
export function useCheckout(): CheckoutView {
  const { client, refreshUsage } = useTollgate();
  const [status, setStatus] = useState<CheckoutView["status"]>("idle");
  const [result, setResult] = useState<CheckoutStatus>();
  const [error, setError] = useState<unknown>();
  const following = useRef<AbortController | undefined>(undefined);

  const start = useCallback<CheckoutView["start"]>(
    async (tier, { successUrl, cancelUrl, redirect = true } = {}) => {
      setStatus("starting");
      setError(undefined);
      const here = window.location.href.split("#")[0]!;
      const back = new URL(here);
      back.searchParams.set("tollgate_session", "{CHECKOUT_SESSION_ID}");
      try {
        const started = await client.checkout.subscription({
          tier,
          successUrl: successUrl ?? back.toString().replace("%7BCHECKOUT_SESSION_ID%7D", "{CHECKOUT_SESSION_ID}"),
          cancelUrl: cancelUrl ?? here,
        });
        if (redirect) {
          setStatus("redirecting");
          window.location.assign(started.url);
        } else setStatus("open");
        return started;
      } catch (e) {
        setError(e);
        setStatus("idle");
        return undefined;
      }
    },
    [client],
  );

  const follow = useCallback<CheckoutView["follow"]>(
    async (sessionId, { checkoutSecret } = {}) => {
      following.current?.abort();
      const controller = new AbortController();
      following.current = controller;
      try {
        const final = await client.checkout.follow(sessionId, { checkoutSecret, signal: controller.signal, onStatus: setStatus });
        setResult(final);
        setStatus(final.status);
        await refreshUsage();
        return final;
      } catch (e) {
        if (!controller.signal.aborted) setError(e);
        return undefined;
      }
    },
    [client, refreshUsage],
  );

  return { status, result, paid: Boolean(result?.paid), error, start, follow };
}
