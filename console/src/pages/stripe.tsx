//! Stripe Connect per mode. Connect starts in this browser (the catalog's /authorize sets
//! the cookie its callback checks) and runs in a popup, so the page and its in-memory
//! sign-in stay; the callback's landing page tells the opener and closes.
import { useEffect, useRef, useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useApp } from "../app";
import { ok } from "../api/client";
import { keys, useConnections } from "../queries";
import { Badge, ConfirmButton, ErrorNote, Loading } from "../ui/common";
import { formatDate } from "../lib/format";

const MESSAGE_TYPE = "tollgate:stripe";

/** In the popup the Connect callback sent back to the console: tell the opener, close. */
export function relayStripePopup(): boolean {
  const params = new URLSearchParams(window.location.search);
  const opener = window.opener as Window | null;
  if (!opener || !params.has("stripe")) return false;
  opener.postMessage({ type: MESSAGE_TYPE, result: params.get("stripe"), mode: params.get("mode"), code: params.get("code") }, window.location.origin);
  window.close();
  return true;
}

export function StripeConnection({ mode }: { mode: "test" | "live" }) {
  const { api, fresh } = useApp();
  const queryClient = useQueryClient();
  const connections = useConnections();
  const [waiting, setWaiting] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const popupRef = useRef<Window | null>(null);
  const connection = connections.data?.find((c) => c.mode === mode);
  const connected = connection?.status === "connected";

  // While the popup is open, watch for its message, its closing and the connection itself.
  useEffect(() => {
    if (!waiting) return;
    const refetch = () => void queryClient.invalidateQueries({ queryKey: keys.connections });
    const onMessage = (event: MessageEvent) => {
      const data = event.data as { type?: string; result?: string; code?: string };
      if (event.origin !== window.location.origin || data?.type !== MESSAGE_TYPE) return;
      if (data.result !== "connected") setFailure(`Stripe did not connect (${data.code ?? data.result ?? "unknown"}).`);
      setWaiting(false);
      refetch();
    };
    const timer = window.setInterval(() => {
      refetch();
      if (popupRef.current?.closed) setWaiting(false);
    }, 1500);
    window.addEventListener("message", onMessage);
    return () => {
      window.clearInterval(timer);
      window.removeEventListener("message", onMessage);
    };
  }, [waiting, queryClient]);

  useEffect(() => {
    if (waiting && connected) {
      setWaiting(false);
      popupRef.current?.close();
    }
  }, [waiting, connected]);

  const connect = useMutation({
    mutationFn: async () => {
      setFailure(null);
      const popup = window.open("about:blank", "tollgate-stripe", "popup,width=560,height=720");
      if (!popup) throw new Error("The browser blocked the Stripe window. Allow pop-ups for the console and try again.");
      popupRef.current = popup;
      try {
        const res = await fresh(() => ok(api.catalog.GET("/authorize", { params: { query: { mode } }, headers: { Accept: "application/json" }, credentials: "include" })));
        const answer = res as unknown as { data: { url: string } };
        popup.location.href = answer.data.url;
        setWaiting(true);
      } catch (err) {
        popup.close();
        throw err;
      }
    },
  });

  const disconnect = useMutation({
    mutationFn: () => fresh(() => ok(api.catalog.DELETE("/v1/stripe/connections/{mode}", { params: { path: { mode } } }))),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.connections }),
  });

  return (
    <section className="panel" aria-labelledby={`stripe-${mode}`}>
      <h2 id={`stripe-${mode}`}>Stripe ({mode} mode)</h2>
      {connections.isPending ? (
        <Loading what="the Stripe connection" />
      ) : connections.error ? (
        <ErrorNote error={connections.error} />
      ) : connection ? (
        <p data-testid={`stripe-state-${mode}`}>
          <Badge kind={connection.status}>{connection.status}</Badge> account <code>{connection.accountId}</code> since {formatDate(connection.connectedAt)}
        </p>
      ) : (
        <p data-testid={`stripe-state-${mode}`}>
          <Badge kind="none">not connected</Badge> Paid tiers and products need a connected Stripe account.
        </p>
      )}
      <div className="actions">
        {!connected && (
          <button type="button" className="primary" disabled={connect.isPending || waiting} onClick={() => connect.mutate()}>
            {waiting ? "Waiting for Stripe…" : connection ? `Reconnect Stripe (${mode})` : `Connect Stripe (${mode})`}
          </button>
        )}
        {connected && (
          <ConfirmButton
            label={`Disconnect Stripe (${mode})`}
            confirmLabel="Disconnect"
            question="Checkouts in this mode stop working."
            busy={disconnect.isPending}
            onConfirm={() => disconnect.mutate()}
          />
        )}
      </div>
      {failure && (
        <p className="error" role="alert">
          {failure}
        </p>
      )}
      {connect.error && <ErrorNote error={connect.error} />}
      {disconnect.error && <ErrorNote error={disconnect.error} />}
    </section>
  );
}
