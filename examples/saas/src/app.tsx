//! Namesmith, the SaaS example: an end user signs up, generates product names (metered, behind
//! a paywall once the month's allowance is used), buys a plan from the pricing table through
//! Stripe Checkout, comes back to a raised limit, and manages billing in Stripe's portal.

import { Paywall, PricingTable, TollgateProvider, UsageMeter, useCheckout, usePlan, useTollgate, useUsage } from "@tollgate/react";
import { useEffect, useState, type FormEvent } from "react";
import { AccountBar, SignUp, getEndUserToken, type AppConfig, type User } from "../../shared/account";
import { nameFor } from "./names";

export function App({ config, initialUser }: { config: AppConfig; initialUser: User | null }) {
  const [user, setUser] = useState(initialUser);
  return (
    // A new provider per end user: signing in or out starts a fresh client (and token).
    <TollgateProvider key={user?.id ?? "guest"} publishableKey={config.publishableKey} baseUrl={config.baseUrl} getEndUserToken={user ? getEndUserToken : undefined}>
      <header className="top">
        <a className="brand" href="/">
          Namesmith
        </a>
        {user && (
          <AccountBar user={user} onSignedOut={() => setUser(null)}>
            <PlanBadge />
            <ManageBilling />
          </AccountBar>
        )}
      </header>
      <main>
        {user ? (
          <Workspace />
        ) : (
          <>
            <SignUp title="Name your product in seconds" pitch="Describe it, get names. Three a month are free." onSignedIn={setUser} />
            <Plans />
          </>
        )}
      </main>
    </TollgateProvider>
  );
}

function Workspace() {
  const [names, setNames] = useState<string[]>([]);
  return (
    <>
      <CheckoutReturn />
      <section className="card" aria-labelledby="generator-title">
        <h1 id="generator-title">Name your product</h1>
        <UsageMeter label="Names this month" />
        {/* Open while at least one name is left this month; otherwise the way to upgrade. */}
        <Paywall
          limit={1}
          fallback={
            <p className="notice" data-testid="out-of-names">
              You have used this month's names. <a href="#plans">Pick a plan</a> to keep going.
            </p>
          }
        >
          <Generator onName={(name) => setNames((all) => [name, ...all])} />
        </Paywall>
        {names.length > 0 && (
          <ol className="names" aria-label="Your names">
            {names.map((name, i) => (
              <li key={names.length - i}>{name}</li>
            ))}
          </ol>
        )}
      </section>
      <Plans />
    </>
  );
}

/** The metered feature: every name counts one unit, on Tollgate's word (the meter moves at once). */
function Generator({ onName }: { onName: (name: string) => void }) {
  const { track } = useUsage();
  const [idea, setIdea] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  async function generate(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      // Refused at the limit ({ allowed: false }): the paywall then takes this form's place.
      const { allowed } = await track();
      if (allowed) onName(nameFor(idea));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="generator" onSubmit={(e) => void generate(e)} aria-label="Name generator">
      <label>
        What does your product do?
        <input type="text" name="idea" value={idea} onChange={(e) => setIdea(e.target.value)} placeholder="meters API calls for developers" />
      </label>
      <button type="submit" className="tg-button tg-button--primary" disabled={busy}>
        Generate a name
      </button>
      {error && (
        <p className="tg-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function Plans() {
  return (
    <section id="plans" className="card plans" aria-labelledby="plans-title">
      <h2 id="plans-title">Plans</h2>
      {/* "Choose …" starts a Stripe Checkout that comes back here with ?tollgate_session=… */}
      <PricingTable />
    </section>
  );
}

/** Back from Stripe Checkout: follows the session live until it is paid, then shows the new plan. */
function CheckoutReturn() {
  const [session] = useState(() => new URLSearchParams(window.location.search).get("tollgate_session"));
  const { follow, status, paid, error } = useCheckout();
  const { tier } = usePlan();
  useEffect(() => {
    if (!session) return;
    void follow(session).then((final) => {
      // Done: a reload should not follow it again.
      if (final) window.history.replaceState(null, "", "/");
    });
  }, [session, follow]);
  if (!session) return null;
  const text = error
    ? `We could not check your payment: ${(error as Error).message}`
    : paid
      ? `Payment received: you are on ${tier?.displayName ?? "your new plan"} now.`
      : status === "expired" || status === "failed"
        ? "The checkout did not go through; nothing was charged."
        : "Confirming your payment…";
  return (
    <p className="notice" role="status" data-testid="checkout-return" data-paid={String(paid)}>
      {text}
    </p>
  );
}

function PlanBadge() {
  const { tier } = usePlan();
  return tier ? <span className="badge" data-testid="plan">{tier.displayName}</span> : null;
}

/** A paying end user's way to Stripe's billing portal (cancel, resume, invoices). */
function ManageBilling() {
  const { client } = useTollgate();
  const { tier } = usePlan();
  const [error, setError] = useState<string>();
  if (!tier || tier.price === 0) return null;
  async function open() {
    setError(undefined);
    try {
      const { url } = await client.portal({ returnUrl: `${window.location.origin}/` });
      window.location.assign(url);
    } catch (e) {
      setError((e as Error).message);
    }
  }
  return (
    <>
      <button type="button" className="link" onClick={() => void open()}>
        Manage billing
      </button>
      {error && (
        <span className="tg-error" role="alert">
          {error}
        </span>
      )}
    </>
  );
}
