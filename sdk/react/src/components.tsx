//! The components: a pricing table, a usage meter, a paywall and a storefront with a cart; styled by class names and CSS variables only.

import { SoldOutError, type Product, type Tier } from "@tollgate/sdk/browser";
import { useEffect, useId, useState, type ReactNode } from "react";
import { useTollgate } from "./context.js";
import { useCheckout, usePlan, useUsage } from "./hooks.js";

/** Minor units as a price in the currency, in the reader's locale. */
export function formatPrice(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(amount / 100);
  } catch {
    return `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

const cx = (...names: (string | false | undefined)[]) => names.filter(Boolean).join(" ");

export interface PricingTableProps {
  /** Where Stripe sends the buyer after paying (default: this page with `?tollgate_session=`). */
  successUrl?: string;
  cancelUrl?: string;
  /** Replaces the default (start a checkout and leave for Stripe). */
  onChoose?: (tier: Tier) => void;
  className?: string;
}

/**
 * The project's tiers (`GET /api/tiers`), cheapest first: the popular one highlighted, the
 * end user's current plan marked, and a button on every other paid tier that starts its checkout.
 */
export function PricingTable({ successUrl, cancelUrl, onChoose, className }: PricingTableProps) {
  const { tiers, plan } = usePlan();
  const { signedIn } = useTollgate();
  const checkout = useCheckout();
  const heading = useId();
  if (!tiers) return <p className="tg-loading" role="status">Loading plans…</p>;
  const sorted = [...tiers].sort((a, b) => a.price - b.price);
  return (
    <section className={cx("tg-pricing", className)} aria-labelledby={heading}>
      <h2 id={heading} className="tg-visually-hidden">Plans</h2>
      <ul className="tg-pricing__list">
        {sorted.map((tier) => {
          const current = tier.name === plan;
          return (
            <li key={tier.id} className={cx("tg-tier", tier.popular && "tg-tier--popular", current && "tg-tier--current")} aria-current={current ? "true" : undefined} data-tier={tier.name}>
              <h3 className="tg-tier__name">{tier.displayName}</h3>
              {tier.popular && <p className="tg-badge">Most popular</p>}
              <p className="tg-tier__price">
                {tier.price === 0 ? "Free" : formatPrice(tier.price, tier.currency)}
                {tier.price > 0 && tier.interval && <span className="tg-tier__interval"> / {tier.interval}</span>}
              </p>
              <p className="tg-tier__limit">{tier.limit === "unlimited" ? "Unlimited calls" : `${tier.limit.toLocaleString()} calls / period`}</p>
              {tier.description && <p className="tg-tier__description">{tier.description}</p>}
              {tier.features.length > 0 && (
                <ul className="tg-tier__features">
                  {tier.features.map((f) => (
                    <li key={f}>{f}</li>
                  ))}
                </ul>
              )}
              {current ? (
                <p className="tg-tier__current">Current plan</p>
              ) : tier.price > 0 && signedIn ? (
                <button
                  type="button"
                  className="tg-button"
                  disabled={checkout.status === "starting" || checkout.status === "redirecting"}
                  onClick={() => (onChoose ? onChoose(tier) : void checkout.start(tier.name, { successUrl, cancelUrl }))}
                >
                  Choose {tier.displayName}
                </button>
              ) : null}
            </li>
          );
        })}
      </ul>
      {checkout.error !== undefined && (
        <p className="tg-error" role="alert">
          {(checkout.error as Error).message}
        </p>
      )}
    </section>
  );
}

/** The end user's usage this period as an accessible meter: "2 of 3 calls used". */
export function UsageMeter({ label = "Calls this period", className }: { label?: string; className?: string }) {
  const { count, limit, loading } = useUsage();
  const id = useId();
  if (loading || count === undefined) return <p className="tg-loading" role="status">Loading usage…</p>;
  const max = typeof limit === "number" ? limit : undefined;
  const fraction = max ? Math.min(1, count / max) : 0;
  const text = max === undefined ? `${count.toLocaleString()} used (unlimited)` : `${count.toLocaleString()} of ${max.toLocaleString()} used`;
  return (
    <div className={cx("tg-meter", max !== undefined && count >= max && "tg-meter--full", className)}>
      <span id={id} className="tg-meter__label">{label}</span>
      <div
        role="meter"
        aria-labelledby={id}
        aria-valuemin={0}
        aria-valuemax={max ?? count}
        aria-valuenow={count}
        aria-valuetext={text}
        className="tg-meter__track"
        style={{ ["--tg-meter-fill" as string]: String(fraction) }}
      >
        <span className="tg-meter__fill" />
      </div>
      <span className="tg-meter__text" aria-hidden="true">{text}</span>
    </div>
  );
}

export interface PaywallProps {
  /** A feature the end user's tier must list (a tier's `features`). */
  feature?: string;
  /** Units the end user must have left this period (default 1; 0 ignores usage). */
  limit?: number;
  children?: ReactNode;
  /** Shown instead of the children; defaults to a message and the pricing table. */
  fallback?: ReactNode;
}

/** Shows its children only while the end user's plan has `feature` and `limit` units left; otherwise the way to upgrade. */
export function Paywall({ feature, limit = 1, children, fallback }: PaywallProps) {
  const { remaining, loading, limited } = useUsage();
  const { has, loading: planLoading } = usePlan();
  if (loading || (feature && planLoading)) return <p className="tg-loading" role="status">Checking your plan…</p>;
  const left = remaining === "unlimited" ? Infinity : (remaining ?? 0);
  const open = (!feature || has(feature)) && (limit === 0 || left >= limit) && !(limited && limit > 0 && left < limit);
  if (open) return <>{children}</>;
  return (
    <div className="tg-paywall" role="region" aria-label="Upgrade required">
      {fallback ?? (
        <>
          <p className="tg-paywall__message">
            {feature && !has(feature) ? `Your plan does not include ${feature}.` : "You have used this period's allowance."} Upgrade to continue.
          </p>
          <PricingTable />
        </>
      )}
    </div>
  );
}

export interface ProductGridProps {
  successUrl?: string;
  cancelUrl?: string;
  /** A guest's email for the receipt (guest carts only). */
  email?: string;
  /** Called with the started cart instead of leaving for Stripe (keep `sessionSecret` in the page). */
  onCheckout?: (cart: { url: string; sessionId: string; orderId: string; sessionSecret?: string }) => void;
  className?: string;
}

/** The project's products with a cart: add, change quantities, then one cart checkout (stock reserved on the server). */
export function ProductGrid({ successUrl, cancelUrl, email, onCheckout, className }: ProductGridProps) {
  const { client, signedIn } = useTollgate();
  const [products, setProducts] = useState<Product[]>();
  const [cart, setCart] = useState<Record<string, number>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const heading = useId();
  useEffect(() => {
    client.catalog.products().then(setProducts, (e: Error) => setError(e.message));
  }, [client]);
  if (!products) return <p className="tg-loading" role="status">{error ?? "Loading products…"}</p>;

  const lines = Object.entries(cart).filter(([, q]) => q > 0);
  const byId = new Map(products.map((p) => [p.id, p]));
  const total = lines.reduce((n, [id, q]) => n + (byId.get(id)?.price ?? 0) * q, 0);
  const currency = products[0]?.currency ?? "usd";
  const add = (p: Product, delta: number) =>
    setCart((c) => {
      const max = p.inventory ?? 99;
      return { ...c, [p.id]: Math.max(0, Math.min(max, 99, (c[p.id] ?? 0) + delta)) };
    });

  async function checkout() {
    setBusy(true);
    setError(undefined);
    const here = window.location.href.split("#")[0]!;
    try {
      const started = await client.checkout.cart({
        guest: !signedIn,
        items: lines.map(([productId, quantity]) => ({ productId, quantity })),
        successUrl: successUrl ?? here,
        cancelUrl: cancelUrl ?? here,
        email,
      });
      if (onCheckout) onCheckout(started);
      else window.location.assign(started.url);
    } catch (e) {
      setError(e instanceof SoldOutError ? `Sold out: ${(e.fieldErrors.items ?? []).join(", ")}` : (e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className={cx("tg-store", className)} aria-labelledby={heading}>
      <h2 id={heading} className="tg-visually-hidden">Products</h2>
      <ul className="tg-products">
        {products.map((p) => (
          <li key={p.id} className={cx("tg-product", p.soldOut && "tg-product--sold-out")} data-product={p.name}>
            {p.imageUrl && <img className="tg-product__image" src={p.imageUrl} alt="" />}
            <h3 className="tg-product__name">{p.displayName}</h3>
            <p className="tg-product__price">{formatPrice(p.price, p.currency)}</p>
            {p.inventory !== null && !p.soldOut && <p className="tg-product__stock">{p.inventory} left</p>}
            {p.soldOut ? (
              <p className="tg-product__sold-out">Sold out</p>
            ) : (
              <button type="button" className="tg-button" onClick={() => add(p, 1)} aria-label={`Add ${p.displayName} to cart`}>
                Add to cart
              </button>
            )}
          </li>
        ))}
      </ul>
      <aside className="tg-cart" aria-label="Cart">
        <h3 className="tg-cart__title">Cart</h3>
        {lines.length === 0 ? (
          <p className="tg-cart__empty">Your cart is empty.</p>
        ) : (
          <ul className="tg-cart__lines">
            {lines.map(([id, quantity]) => {
              const p = byId.get(id)!;
              return (
                <li key={id} className="tg-cart__line">
                  <span>{p.displayName}</span>
                  <button type="button" className="tg-button tg-button--small" onClick={() => add(p, -1)} aria-label={`One fewer ${p.displayName}`}>−</button>
                  <output aria-label={`${p.displayName} quantity`}>{quantity}</output>
                  <button type="button" className="tg-button tg-button--small" onClick={() => add(p, 1)} aria-label={`One more ${p.displayName}`}>+</button>
                </li>
              );
            })}
          </ul>
        )}
        <p className="tg-cart__total">Total: {formatPrice(total, currency)}</p>
        <button type="button" className="tg-button tg-button--primary" disabled={lines.length === 0 || busy} onClick={() => void checkout()}>
          Checkout
        </button>
        {error && (
          <p className="tg-error" role="alert">
            {error}
          </p>
        )}
      </aside>
    </section>
  );
}
