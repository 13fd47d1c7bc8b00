//! The developer's account: their own Tollgate plan (status, checkout, billing portal), the
//! Stripe connections of both modes, and the platform-wide audit trail.
import { useState } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useApp } from "../app";
import { idempotencyKey, ok } from "../api/client";
import { keys } from "../queries";
import { StripeConnection } from "./stripe";
import { AuditTable } from "./audit";
import { Badge, ErrorNote, Pager, QueryView } from "../ui/common";
import { formatDate } from "../lib/format";
import type { components } from "../api/schema";

export function AccountPage() {
  const { api } = useApp();
  // The plan's status moves with Stripe's webhook: always read it afresh.
  const platform = useQuery({ queryKey: keys.platform, queryFn: () => ok(api.platform.GET("/v1/platform")).then((r) => r.data), staleTime: 0 });
  const returned = new URLSearchParams(window.location.search).get("billing");
  const checkout = useMutation({
    mutationFn: async () => {
      const here = `${window.location.origin}/console/account`;
      const res = await ok(
        api.platform.POST("/v1/billing/checkout", {
          params: { header: { "Idempotency-Key": idempotencyKey() } },
          body: { successUrl: `${here}?billing=success`, cancelUrl: `${here}?billing=canceled` },
        }),
      );
      window.location.assign(res.url);
    },
  });
  const portal = useMutation({
    mutationFn: async () => {
      const res = await ok(api.platform.POST("/v1/billing/portal", { body: { returnUrl: `${window.location.origin}/console/account` } }));
      window.location.assign(res.url);
    },
  });
  return (
    <>
      <h1>Account</h1>
      <section className="panel" aria-labelledby="plan-title">
        <h2 id="plan-title">Your Tollgate plan</h2>
        {returned === "success" && <p role="status">Thanks: your plan is active as soon as Stripe confirms the payment.</p>}
        <QueryView query={platform} what="your plan">
          {(p) => (
            <>
              <p>
                Plan status <Badge kind={p.billingStatus}>{p.billingStatus}</Badge> · platform <code>{p.id}</code> · since {formatDate(p.createdAt)}
              </p>
              <p className="muted">Live keys work while the plan is active or trialing; test keys always work.</p>
              <div className="actions">
                {p.billingStatus !== "active" && p.billingStatus !== "trialing" && p.billingStatus !== "past_due" && (
                  <button type="button" className="primary" disabled={checkout.isPending} onClick={() => checkout.mutate()}>
                    {checkout.isPending ? "Opening checkout…" : "Subscribe to the developer plan"}
                  </button>
                )}
                {p.billingStatus !== "none" && (
                  <button type="button" disabled={portal.isPending} onClick={() => portal.mutate()}>
                    {portal.isPending ? "Opening the billing portal…" : "Manage billing: payment method, invoices, cancel"}
                  </button>
                )}
              </div>
            </>
          )}
        </QueryView>
        {checkout.error && <ErrorNote error={checkout.error} />}
        {portal.error && <ErrorNote error={portal.error} />}
      </section>
      <StripeConnection mode="test" />
      <StripeConnection mode="live" />
      <PlatformAudit />
    </>
  );
}

function PlatformAudit() {
  const { api } = useApp();
  const [page, setPage] = useState(1);
  const q = useQuery({ queryKey: ["audit", page], queryFn: () => ok(api.platform.GET("/v1/audit", { params: { query: { page, pageSize: 50 } } })) });
  return (
    <section className="panel" aria-labelledby="paudit-title">
      <h2 id="paudit-title">Audit trail (all projects)</h2>
      <QueryView query={q} what="the audit trail">
        {(res) => (
          <>
            <AuditTable events={res.data as components["schemas"]["AuditEvent"][]} />
            <Pager page={page} pageSize={res.pageSize} total={res.total} onPage={setPage} />
          </>
        )}
      </QueryView>
    </section>
  );
}
