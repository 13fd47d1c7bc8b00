//! Dashboards: one project's, and the totals across the mode's projects. Metric cards, the
//! 30-day series drawn with uPlot (this module is loaded on demand, uPlot with it), and
//! Stripe event outcomes.
import { useEffect, useRef } from "react";
import { useQuery } from "@tanstack/react-query";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useApp } from "../app";
import { ok } from "../api/client";
import type { components } from "../api/schema";
import { useCurrentProject } from "./project";
import { useMode } from "../routes";
import { Badge, Empty, QueryView } from "../ui/common";
import { decimalsOf, formatCount, formatDate, formatMoney } from "../lib/format";

type Dashboard = components["schemas"]["Dashboard"];

export function DashboardPage() {
  const project = useCurrentProject();
  const { api } = useApp();
  const q = useQuery({
    queryKey: ["project", project.id, "dashboard"],
    queryFn: () => ok(api.platform.GET("/v1/projects/{id}/dashboard", { params: { path: { id: project.id } } })).then((r) => r.data),
    // Money and usage move on their own (webhooks, metered calls): always read them afresh.
    staleTime: 0,
    refetchInterval: 30_000,
  });
  return <QueryView query={q} what="the dashboard">{(d) => <DashboardView d={d} />}</QueryView>;
}

export function TotalsPage() {
  const mode = useMode();
  const { api } = useApp();
  const q = useQuery({
    queryKey: ["totals", mode],
    queryFn: () => ok(api.platform.GET("/v1/dashboard", { params: { query: { mode } } })).then((r) => r.data),
    staleTime: 0,
    refetchInterval: 30_000,
  });
  return (
    <>
      <h1>Overview: all {mode} projects</h1>
      <QueryView query={q} what="the totals">
        {(d) => (
          <>
            <p className="muted">
              {d.projects.length} {mode} project{d.projects.length === 1 ? "" : "s"}: {d.projects.map((p) => p.name).join(", ") || "none"} · as of {formatDate(d.generatedAt)}
            </p>
            <DashboardView d={d} />
          </>
        )}
      </QueryView>
    </>
  );
}

function Card({ label, value, sub, testId }: { label: string; value: string; sub?: string; testId?: string }) {
  return (
    <div className="metric" data-testid={testId}>
      <div className="metric-label">{label}</div>
      <div className="metric-value">{value}</div>
      {sub && <div className="metric-sub muted small">{sub}</div>}
    </div>
  );
}

function moneyList(list: { currency: string; amount: number }[]): string {
  return list.length ? list.map((m) => formatMoney(m.amount, m.currency)).join(" · ") : formatMoney(0, "usd");
}

export function DashboardView({ d }: { d: Dashboard }) {
  const saas = d.tiers.length > 0 || d.store.products === 0;
  const today = d.series.usage[d.series.usage.length - 1];
  return (
    <>
      <section aria-label="Metrics" className="metrics">
        <Card label="Customers" value={formatCount(d.customers.total)} sub={`${formatCount(d.customers.newLast30Days)} new in 30 days`} testId="metric-customers" />
        <Card label="MRR" value={moneyList(d.mrr)} sub={`${d.subscriptions.active} active · ${d.subscriptions.trialing} trialing · ${d.subscriptions.canceling} canceling · ${d.subscriptions.pastDue} past due`} testId="metric-mrr" />
        <Card label="Usage this period" value={formatCount(d.usage.total)} testId="metric-usage" />
        <Card label="Store revenue" value={moneyList(d.store.revenue)} sub={`${formatCount(d.store.orders)} orders`} testId="metric-revenue" />
        <Card label="Units sold" value={formatCount(d.store.unitsSold)} testId="metric-units" />
        <Card
          label="Stock"
          value={formatCount(d.store.inventory)}
          sub={`${d.store.lowStock} low · ${d.store.soldOut} sold out${d.store.unlimitedProducts ? ` · ${d.store.unlimitedProducts} unlimited` : ""}${d.store.needsAttention ? ` · ${d.store.needsAttention} orders need attention` : ""}`}
          testId="metric-stock"
        />
      </section>

      <section aria-label="Last 30 days" className="charts">
        <Chart title="Usage per day" testId="chart-usage" points={d.series.usage.map((p) => [p.date, p.count])} summary={`Today: ${today ? formatCount(today.count) : 0}`} />
        <Chart title="New customers per day" testId="chart-customers" points={d.series.newCustomers.map((p) => [p.date, p.count])} />
        {d.series.revenue.length === 0 ? (
          <Chart title="Revenue per day" testId="chart-revenue" points={d.series.usage.map((p) => [p.date, 0])} />
        ) : (
          d.series.revenue.map((r) => (
            <Chart key={r.currency} title={`Revenue per day (${r.currency.toUpperCase()})`} testId={`chart-revenue-${r.currency}`} points={r.points.map((p) => [p.date, p.amount / 10 ** decimalsOf(r.currency)])} />
          ))
        )}
      </section>

      {saas && d.tiers.length > 0 && (
        <section className="panel" aria-labelledby="tiers-dash">
          <h2 id="tiers-dash">Tiers</h2>
          <div className="table-wrap" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Tier</th>
                  <th scope="col">Price</th>
                  <th scope="col">Subscribers</th>
                  <th scope="col">Canceling</th>
                </tr>
              </thead>
              <tbody>
                {d.tiers.map((t) => (
                  <tr key={t.id}>
                    <td>
                      {t.displayName} {t.isDefault && <Badge kind="default">default</Badge>} {t.archived && <Badge kind="archived">archived</Badge>}
                    </td>
                    <td>{t.price === 0 ? "Free" : `${formatMoney(t.price, t.currency)} / ${t.interval}`}</td>
                    <td>{formatCount(t.subscribers)}</td>
                    <td>{formatCount(t.canceling)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}

      <section className="panel" aria-labelledby="top-users">
        <h2 id="top-users">Top end users this period</h2>
        {d.usage.topEndUsers.length === 0 ? (
          <Empty>No metered calls this period.</Empty>
        ) : (
          <div className="table-wrap" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">End user</th>
                  <th scope="col">Plan</th>
                  <th scope="col">Calls</th>
                </tr>
              </thead>
              <tbody>
                {d.usage.topEndUsers.map((u) => (
                  <tr key={u.endUserId}>
                    <td>
                      {u.email ?? u.externalId ?? u.endUserId} <code className="small">{u.endUserId}</code>
                    </td>
                    <td>{u.plan ?? "—"}</td>
                    <td>{formatCount(u.count)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section className="panel" aria-labelledby="stripe-events">
        <h2 id="stripe-events">Stripe events (30 days)</h2>
        <p data-testid="event-outcomes">
          <Badge kind="applied">applied {d.webhooks.outcomes.applied}</Badge> <Badge kind="stale">stale {d.webhooks.outcomes.stale}</Badge>{" "}
          <Badge kind="unrelated">unrelated {d.webhooks.outcomes.unrelated}</Badge> <Badge kind="unhandled">unhandled {d.webhooks.outcomes.unhandled}</Badge>
        </p>
        {d.webhooks.recent.length === 0 ? (
          <Empty>No Stripe events yet.</Empty>
        ) : (
          <div className="table-wrap" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Type</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Received</th>
                </tr>
              </thead>
              <tbody>
                {d.webhooks.recent.map((e) => (
                  <tr key={e.id}>
                    <td>
                      <code className="small">{e.id}</code>
                    </td>
                    <td>{e.type}</td>
                    <td>
                      <Badge kind={e.outcome}>{e.outcome}</Badge>
                    </td>
                    <td>{formatDate(e.receivedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

/** A 30-day line chart; the caption and the hidden table say what it shows without sight. */
export function Chart({ title, points, summary, testId }: { title: string; points: [string, number][]; summary?: string; testId: string }) {
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = holder.current;
    if (!el) return;
    const xs = points.map(([date]) => Date.parse(`${date}T00:00:00Z`) / 1000);
    const ys = points.map(([, v]) => v);
    const width = () => Math.max(260, Math.min(el.clientWidth || 560, 900));
    const plot = new uPlot(
      {
        width: width(),
        height: 180,
        legend: { show: false },
        cursor: { show: true },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        series: [{}, { label: title, stroke: "#2f6fde", width: 2, fill: "rgba(47,111,222,0.08)" }],
        axes: [{ stroke: "#555" }, { stroke: "#555" }],
      },
      [xs, ys],
      el,
    );
    const onResize = () => plot.setSize({ width: width(), height: 180 });
    window.addEventListener("resize", onResize);
    return () => {
      window.removeEventListener("resize", onResize);
      plot.destroy();
    };
  }, [points, title]);
  return (
    <figure className="chart" data-testid={testId}>
      <figcaption>
        {title}
        {summary && (
          <span className="chart-summary" data-testid={`${testId}-today`}>
            {" "}
            · {summary}
          </span>
        )}
      </figcaption>
      <div ref={holder} aria-hidden="true" />
      <table className="sr-only">
        <caption>{title}</caption>
        <tbody>
          {points.map(([date, v]) => (
            <tr key={date}>
              <th scope="row">{date}</th>
              <td>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
