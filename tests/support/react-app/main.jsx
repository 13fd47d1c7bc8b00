// A small app on @tollgate/react for tests/react.test.mjs: a metered feature behind a
// paywall, the usage meter, the pricing table, and a success page that follows the
// checkout; `?store=1` shows the storefront instead. Its "backend" (/config.json, /token)
// is the test's own server, which mints end-user tokens with the server SDK.
import { Paywall, PricingTable, ProductGrid, TollgateProvider, UsageMeter, useCheckout, useUsage } from "@tollgate/react";
import "@tollgate/react/styles.css";
import { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";

const params = new URLSearchParams(location.search);

function Metered() {
  const { track, count } = useUsage();
  const [last, setLast] = useState("");
  return (
    <p>
      <button id="metered" type="button" onClick={() => track().then((r) => setLast(r.allowed ? `allowed ${r.usage.count}` : "refused"))}>
        Run the metered feature
      </button>
      <span id="last">{last}</span> <span id="count">{count}</span>
    </p>
  );
}

function Following() {
  const session = params.get("tollgate_session");
  const { follow, status, paid } = useCheckout();
  useEffect(() => {
    if (session) void follow(session);
  }, [session, follow]);
  if (!session) return null;
  return <p id="checkout-status" data-paid={String(paid)}>{status}</p>;
}

async function main() {
  const config = await (await fetch("/config.json")).json();
  const getEndUserToken = () => fetch("/token").then((r) => r.json());
  createRoot(document.getElementById("root")).render(
    <TollgateProvider publishableKey={config.publishableKey} baseUrl={config.baseUrl} getEndUserToken={getEndUserToken}>
      <main>
        <h1>Demo</h1>
        <Following />
        {params.get("store") ? (
          <ProductGrid />
        ) : (
          <>
            <UsageMeter />
            <div id="feature">
              <Paywall limit={1}>
                <Metered />
              </Paywall>
            </div>
            <div id="exports">
              <Paywall feature="Exports" limit={0} fallback={<p id="exports-locked">Exports are on Pro.</p>}>
                <p id="exports-open">Exports</p>
              </Paywall>
            </div>
            <div id="pricing">
              <PricingTable />
            </div>
          </>
        )}
      </main>
    </TollgateProvider>,
  );
}
void main();
