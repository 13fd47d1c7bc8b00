//! Paper Trail, the store example: a signed-in buyer fills a cart from the product grid, pays
//! in Stripe Checkout, watches the thank-you page turn paid live, and downloads the files.

import { ProductGrid, TollgateProvider, useCheckout, useTollgate } from "@tollgate/react";
import type { Entitlement, Product } from "@tollgate/sdk/browser";
import { useEffect, useState } from "react";
import { AccountBar, SignUp, getEndUserToken, type AppConfig, type User } from "../../shared/account";

export function App({ config, initialUser }: { config: AppConfig; initialUser: User | null }) {
  const [user, setUser] = useState(initialUser);
  const page = window.location.pathname === "/thanks" ? <ThankYou /> : <Shop />;
  return (
    <TollgateProvider key={user?.id ?? "guest"} publishableKey={config.publishableKey} baseUrl={config.baseUrl} getEndUserToken={user ? getEndUserToken : undefined}>
      <header className="top">
        <a className="brand" href="/">
          Paper Trail
        </a>
        {user && <AccountBar user={user} onSignedOut={() => setUser(null)} />}
      </header>
      <main>{user ? page : <SignUp title="Guides and templates for API businesses" pitch="Sign in to buy: your files stay in your library." onSignedIn={setUser} />}</main>
    </TollgateProvider>
  );
}

function Shop() {
  const here = window.location.origin;
  return (
    <>
      <section className="card" aria-labelledby="shop-title">
        <h1 id="shop-title">Shop</h1>
        {/* Stock is reserved when the cart checks out; Stripe sends the buyer to the thank-you page. */}
        <ProductGrid successUrl={`${here}/thanks?session={CHECKOUT_SESSION_ID}`} cancelUrl={`${here}/`} />
      </section>
      <Library />
    </>
  );
}

/** The catalog's products by id, for names next to what was bought. */
function useProducts(): Map<string, Product> | undefined {
  const { client } = useTollgate();
  const [products, setProducts] = useState<Map<string, Product>>();
  useEffect(() => {
    client.catalog.products().then((all) => setProducts(new Map(all.map((p) => [p.id, p]))), () => setProducts(new Map()));
  }, [client]);
  return products;
}

/** Follows the checkout named in the URL over the live status stream, then offers the downloads. */
function ThankYou() {
  const [session] = useState(() => new URLSearchParams(window.location.search).get("session"));
  const { follow, status, paid, result, error } = useCheckout();
  const products = useProducts();
  useEffect(() => {
    if (session) void follow(session);
  }, [session, follow]);
  if (!session)
    return (
      <section className="card">
        <p>
          No order to show. <a href="/">Back to the shop</a>
        </p>
      </section>
    );
  const failed = status === "expired" || status === "failed";
  return (
    <section className="card" aria-labelledby="thanks-title">
      <h1 id="thanks-title">{paid ? "Thank you!" : failed ? "No payment" : "Almost there"}</h1>
      <p className="notice" role="status" data-testid="order-status" data-status={status} data-paid={String(paid)}>
        {error
          ? `We could not check your payment: ${(error as Error).message}`
          : paid
            ? "Payment received. Your files are ready."
            : failed
              ? "The checkout did not go through; nothing was charged and the items are back in stock."
              : status === "pending_payment"
                ? "Your bank is still confirming the payment: this page updates when it does."
                : "Waiting for your payment… this page updates by itself."}
      </p>
      {paid && result?.items && (
        <ul className="order" aria-label="Your order">
          {result.items.map((item) => (
            <li key={item.productId}>
              <span>
                {item.quantity} × {products?.get(item.productId)?.displayName ?? item.name}
              </span>
              <DownloadButton productId={item.productId} label={products?.get(item.productId)?.displayName ?? item.name} />
            </li>
          ))}
        </ul>
      )}
      <p>
        <a href="/">Back to the shop</a>
      </p>
    </section>
  );
}

/** A five-minute download link asked for on click, then opened (the file comes as an attachment). */
function DownloadButton({ productId, label }: { productId: string; label: string }) {
  const { client } = useTollgate();
  const [error, setError] = useState<string>();
  async function download() {
    setError(undefined);
    try {
      const link = await client.download({ productId });
      window.location.assign(link.url);
    } catch (e) {
      setError((e as Error).message);
    }
  }
  return (
    <>
      <button type="button" className="tg-button" onClick={() => void download()} aria-label={`Download ${label}`}>
        Download
      </button>
      {error && (
        <span className="tg-error" role="alert">
          {error}
        </span>
      )}
    </>
  );
}

/** Everything the buyer owns: their entitlements, each with its download. */
function Library() {
  const { client } = useTollgate();
  const products = useProducts();
  const [owned, setOwned] = useState<Entitlement[]>();
  useEffect(() => {
    (async () => {
      const all: Entitlement[] = [];
      for await (const entitlement of client.entitlements.iterate()) if (entitlement.productId) all.push(entitlement);
      return all;
    })().then(setOwned, () => setOwned([]));
  }, [client]);
  if (!owned || owned.length === 0) return null;
  return (
    <section className="card" aria-labelledby="library-title">
      <h2 id="library-title">Your files</h2>
      <ul className="order">
        {owned.map((e) => {
          const name = products?.get(e.productId!)?.displayName ?? "A purchase";
          return (
            <li key={e.id}>
              <span>{name}</span>
              <DownloadButton productId={e.productId!} label={name} />
            </li>
          );
        })}
      </ul>
    </section>
  );
}
