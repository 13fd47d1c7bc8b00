//! Customers: the project's end users in a searchable, cursor-paged table (plan, usage
//! against the limit, subscription), and one customer in full: usage this period and its
//! 30-day history, subscription (change the plan, cancel, resume: fresh sign-in), orders,
//! entitlements (revoke), delete (fresh sign-in).
import { lazy, Suspense, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApp } from "../app";
import { idempotencyKey, ok } from "../api/client";
import { ApiError } from "../api/errors";
import type { components } from "../api/schema";
import { keys } from "../queries";
import { NotFound } from "../layout";
import { useCurrentProject } from "./project";
import { Badge, ConfirmByName, ConfirmButton, Empty, ErrorNote, Loading, QueryView } from "../ui/common";
import { formatCount, formatDate, formatMoney } from "../lib/format";

type Customer = components["schemas"]["ConsoleCustomer"];

const Chart = lazy(() => import("./dashboard").then((m) => ({ default: m.Chart })));

function UsageBar({ count, limit }: { count: number; limit: number | null }) {
  const label = limit === null ? `${formatCount(count)} (unlimited)` : `${formatCount(count)} / ${formatCount(limit)}`;
  return (
    <span className="usage">
      {limit !== null && <progress value={Math.min(count, limit)} max={Math.max(limit, 1)} aria-label={`Usage ${label}`} />}
      <span className="small" data-testid="usage-text">
        {label}
      </span>
    </span>
  );
}

function displayName(c: { email: string | null; externalId: string | null; id: string; firstName: string | null; lastName: string | null }): string {
  const name = [c.firstName, c.lastName].filter(Boolean).join(" ");
  return c.email ?? (name || c.externalId || c.id);
}

export function CustomersPage() {
  const project = useCurrentProject();
  const { api } = useApp();
  const [typed, setTyped] = useState("");
  const [search, setSearch] = useState("");
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const q = useQuery({
    queryKey: [...keys.projectScoped(project.id, "customers"), search, cursor],
    queryFn: () =>
      ok(api.catalog.GET("/v1/projects/{id}/customers", { params: { path: { id: project.id }, query: { limit: 20, ...(search ? { search } : {}), ...(cursor ? { cursor } : {}) } } })),
    staleTime: 0,
  });
  return (
    <section className="panel" aria-labelledby="customers-title">
      <h2 id="customers-title">Customers</h2>
      <form
        role="search"
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setCursors([null]);
          setSearch(typed.trim());
        }}
      >
        <label>
          Search by email or external id
          <input type="search" name="search" value={typed} onChange={(e) => setTyped(e.target.value)} maxLength={49} />
        </label>
        <button type="submit">Search</button>
      </form>
      <QueryView query={q} what="customers">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>{search ? "No customer matches." : "No customers yet: your backend creates them with POST /api/customers."}</Empty>
          ) : (
            <>
              <div className="table-wrap" tabIndex={0}>
                <table aria-label="Customers">
                  <thead>
                    <tr>
                      <th scope="col">Customer</th>
                      <th scope="col">External id</th>
                      <th scope="col">Plan</th>
                      <th scope="col">Usage this period</th>
                      <th scope="col">Subscription</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((c: Customer) => (
                      <tr key={c.id} data-customer={c.externalId ?? c.id}>
                        <td>
                          <Link to={c.id}>{displayName(c)}</Link>
                        </td>
                        <td>{c.externalId ? <code>{c.externalId}</code> : "—"}</td>
                        <td data-testid="plan">{c.plan ?? "—"}</td>
                        <td>
                          <UsageBar count={c.usage.count} limit={c.limit} />
                        </td>
                        <td>{c.subscription ? <Badge kind={c.subscription.status}>{`${c.subscription.status}${c.subscription.cancelAtPeriodEnd ? " (canceling)" : ""}`}</Badge> : "—"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <nav className="pager" aria-label="Pages">
                <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
                  Previous
                </button>
                <button type="button" disabled={!page.nextCursor} onClick={() => setCursors((c) => [...c, page.nextCursor])}>
                  Next
                </button>
              </nav>
            </>
          )
        }
      </QueryView>
    </section>
  );
}

export function CustomerDetailPage() {
  const project = useCurrentProject();
  const { customerId } = useParams();
  const { api, fresh } = useApp();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const key = [...keys.projectScoped(project.id, "customers"), "detail", customerId];
  const q = useQuery({
    queryKey: key,
    queryFn: () => ok(api.catalog.GET("/v1/projects/{id}/customers/{customerId}", { params: { path: { id: project.id, customerId: customerId! } } })).then((r) => r.data),
    staleTime: 0,
  });
  const revoke = useMutation({
    mutationFn: (entitlementId: string) =>
      ok(api.catalog.POST("/v1/projects/{id}/customers/{customerId}/entitlements/{entitlementId}/revoke", { params: { path: { id: project.id, customerId: customerId!, entitlementId } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: key }),
  });
  const remove = useMutation({
    mutationFn: () => fresh(() => ok(api.catalog.DELETE("/v1/projects/{id}/customers/{customerId}", { params: { path: { id: project.id, customerId: customerId! } } }))),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.projectScoped(project.id, "customers") });
      navigate(`/${project.mode}/projects/${project.id}/customers`);
    },
  });
  if (q.isPending) return <Loading what="the customer" />;
  if (q.error) return q.error instanceof ApiError && q.error.status === 404 ? <NotFound what="customer" /> : <ErrorNote error={q.error} />;
  const c = q.data;
  const today = c.usageHistory[c.usageHistory.length - 1];
  return (
    <>
      <p>
        <Link to={`/${project.mode}/projects/${project.id}/customers`}>← All customers</Link>
      </p>
      <section className="panel" aria-labelledby="customer-title">
        <h2 id="customer-title">{displayName(c)}</h2>
        <p className="muted small">
          <code>{c.id}</code>
          {c.externalId && (
            <>
              {" "}
              · external id <code>{c.externalId}</code>
            </>
          )}{" "}
          · since {formatDate(c.createdAt)}
        </p>
        <p>
          Plan <strong data-testid="customer-plan">{c.plan ?? "—"}</strong> · usage this period <UsageBar count={c.usage.count} limit={c.limit} /> · period {formatDate(c.usage.periodStart)} to {formatDate(c.usage.periodEnd)}
        </p>
        {c.subscription ? (
          <p data-testid="customer-subscription">
            Subscription <Badge kind={c.subscription.status}>{c.subscription.status}</Badge> to {c.subscription.tier}, {formatMoney(c.subscription.amount, c.subscription.currency)} / {c.subscription.interval}, period {formatDate(c.subscription.currentPeriodStart)} to{" "}
            {formatDate(c.subscription.currentPeriodEnd)}
            {c.subscription.cancelAtPeriodEnd && " · cancels at period end"}
          </p>
        ) : (
          <p className="muted">No subscription.</p>
        )}
        {c.subscription && c.subscription.status !== "canceled" && c.subscription.status !== "incomplete_expired" && (
          <SubscriptionActions customerId={c.id} current={c.subscription.tier} ending={c.subscription.cancelAtPeriodEnd} onDone={() => void queryClient.invalidateQueries({ queryKey: key })} />
        )}
      </section>
      <Suspense fallback={<Loading what="the chart" />}>
        <Chart title="Usage per day" testId="customer-usage" points={c.usageHistory.map((d) => [d.date, d.count])} summary={`Today: ${today ? formatCount(today.count) : 0}`} />
      </Suspense>
      <section className="panel" aria-labelledby="orders-title">
        <h2 id="orders-title">Orders</h2>
        {c.orders.length === 0 ? (
          <Empty>No orders.</Empty>
        ) : (
          <div className="table-wrap" tabIndex={0}>
            <table aria-label="Orders">
              <thead>
                <tr>
                  <th scope="col">Order</th>
                  <th scope="col">Status</th>
                  <th scope="col">Total</th>
                  <th scope="col">Products</th>
                  <th scope="col">Paid</th>
                </tr>
              </thead>
              <tbody>
                {c.orders.map((o) => (
                  <tr key={o.id}>
                    <td>
                      <code>{o.id}</code>
                    </td>
                    <td>
                      <Badge kind={o.status}>{o.status}</Badge>
                    </td>
                    <td>
                      {formatMoney(o.amountTotal, o.currency)}
                      {o.amountRefunded > 0 && <span className="small muted"> ({formatMoney(o.amountRefunded, o.currency)} refunded)</span>}
                    </td>
                    <td>{o.productIds.map((p) => <code key={p} className="small">{p} </code>)}</td>
                    <td>{formatDate(o.paidAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section className="panel" aria-labelledby="ent-title">
        <h2 id="ent-title">Entitlements</h2>
        {c.entitlements.length === 0 ? (
          <Empty>No entitlements.</Empty>
        ) : (
          <div className="table-wrap" tabIndex={0}>
            <table aria-label="Entitlements">
              <thead>
                <tr>
                  <th scope="col">Entitlement</th>
                  <th scope="col">From</th>
                  <th scope="col">Status</th>
                  <th scope="col">Granted</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {c.entitlements.map((e) => (
                  <tr key={e.id} data-entitlement={e.id}>
                    <td>
                      <code className="small">{e.id}</code>
                    </td>
                    <td>{e.source === "order" ? <>product <code className="small">{e.productId}</code></> : <>subscription to {e.plan}</>}</td>
                    <td>
                      <Badge kind={e.status}>{e.status}</Badge>
                      {e.revokedBy && <span className="small muted"> by {e.revokedBy}</span>}
                    </td>
                    <td>{formatDate(e.createdAt)}</td>
                    <td>
                      {e.source === "order" && e.status === "active" && (
                        <ConfirmButton label={`Revoke ${e.id}`} text="Revoke" confirmLabel="Revoke access" question="Downloads stop at once." busy={revoke.isPending} onConfirm={() => revoke.mutate(e.id)} />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {revoke.error && <ErrorNote error={revoke.error} />}
      </section>
      <section className="panel danger-zone" aria-labelledby="delcus-title">
        <h2 id="delcus-title">Delete this customer</h2>
        <p>Their usage and tokens go; orders, entitlements and subscriptions stay for your records.</p>
        <ConfirmByName name={c.email ?? c.externalId ?? c.id} action="Delete customer" busy={remove.isPending} onConfirm={() => remove.mutate()} />
        {remove.error && <ErrorNote error={remove.error} />}
      </section>
    </>
  );
}

type SubscriptionAnswer = components["schemas"]["SubscriptionAnswer"]["data"];

/** What a change answered, in words: nothing here is optimistic, the plan follows Stripe's webhook. */
function changeNote(answer: SubscriptionAnswer): string {
  const change = answer.change;
  if (!change) return answer.cancelAtPeriodEnd ? "Set to cancel at the period's end." : "The subscription continues.";
  if (change.status === "pending_payment") return `Moving to ${change.tier} once the customer pays the invoice; the current plan stays until then.`;
  if (change.status === "at_period_end") return `Moving to ${change.tier} on ${formatDate(change.effectiveAt)}; the paid plan stays until then.`;
  return `Moving to ${change.tier}: the plan follows as soon as Stripe confirms it.`;
}

/** Change the customer's paid tier, or cancel / resume, through Stripe with the end user's rules. */
function SubscriptionActions({ customerId, current, ending, onDone }: { customerId: string; current: string; ending: boolean; onDone: () => void }) {
  const project = useCurrentProject();
  const { api, fresh } = useApp();
  const [tier, setTier] = useState("");
  const tiers = useQuery({
    queryKey: keys.projectScoped(project.id, "tiers"),
    queryFn: () => ok(api.catalog.GET("/v1/projects/{id}/tiers", { params: { path: { id: project.id }, query: { pageSize: 100 } } })).then((r) => r.data),
  });
  const paid = (tiers.data ?? []).filter((t) => !t.archivedAt && t.price > 0 && t.name !== current);
  const path = { id: project.id, customerId };
  const header = () => ({ "Idempotency-Key": idempotencyKey() });
  const change = useMutation({
    mutationFn: () =>
      fresh(() => ok(api.catalog.POST("/v1/projects/{id}/customers/{customerId}/subscription/change", { params: { path, header: header() }, body: { tier } }))),
    onSuccess: onDone,
  });
  const cancel = useMutation({
    mutationFn: () => fresh(() => ok(api.catalog.POST("/v1/projects/{id}/customers/{customerId}/subscription/cancel", { params: { path, header: header() }, body: {} }))),
    onSuccess: onDone,
  });
  const resume = useMutation({
    mutationFn: () => fresh(() => ok(api.catalog.POST("/v1/projects/{id}/customers/{customerId}/subscription/resume", { params: { path, header: header() } }))),
    onSuccess: onDone,
  });
  const answered = change.data?.data ?? cancel.data?.data ?? resume.data?.data;
  return (
    <div className="subscription-actions">
      <form
        className="inline-form"
        aria-label="Change the plan"
        onSubmit={(e) => {
          e.preventDefault();
          if (tier) change.mutate();
        }}
      >
        <label>
          Change the plan to
          <select value={tier} onChange={(e) => setTier(e.target.value)}>
            <option value="">choose a paid tier</option>
            {paid.map((t) => (
              <option key={t.id} value={t.name}>
                {t.displayName} ({formatMoney(t.price, t.currency)})
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={!tier || change.isPending}>
          {change.isPending ? "Changing…" : "Change plan"}
        </button>
      </form>
      <p className="muted small">An upgrade invoices the customer the difference now and applies once paid; a downgrade starts at the period's end.</p>
      <div className="actions">
        {ending ? (
          <button type="button" disabled={resume.isPending} onClick={() => resume.mutate()}>
            Keep the subscription
          </button>
        ) : (
          <ConfirmButton label="Cancel the subscription" text="Cancel at period end" confirmLabel="Cancel at period end" question="The plan stays until the period ends." busy={cancel.isPending} onConfirm={() => cancel.mutate()} />
        )}
      </div>
      {answered && (
        <p role="status" data-testid="subscription-answer">
          {changeNote(answered)}
        </p>
      )}
      {[change.error, cancel.error, resume.error].map((err, i) => err && <ErrorNote key={i} error={err} onReload={onDone} />)}
    </div>
  );
}
