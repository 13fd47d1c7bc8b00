//! Operators only: business metrics, the developer directory, and the entitlement drift
//! audit: audit, dry run (the planned repair and its confirmation), then confirm.
import { useState } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useApp } from "../app";
import { ok } from "../api/client";
import type { components } from "../api/schema";
import { ApiError } from "../api/errors";
import { Badge, Empty, ErrorNote, Pager, QueryView } from "../ui/common";
import { formatCount, formatDate, formatMoney } from "../lib/format";

type Drift = components["schemas"]["DriftAudit"];

export function OperatorsPage() {
  const { api } = useApp();
  const metrics = useQuery({ queryKey: ["admin", "metrics"], queryFn: () => ok(api.platform.GET("/v1/admin/metrics")).then((r) => r.data), retry: false });
  if (metrics.error instanceof ApiError && metrics.error.status === 403)
    return (
      <section className="not-found">
        <h1>Operators only</h1>
        <p>This page is for Tollgate's operators.</p>
      </section>
    );
  return (
    <>
      <h1>Operators</h1>
      <QueryView query={metrics} what="business metrics">
        {(m) => (
          <section className="metrics" aria-label="Business metrics">
            <div className="metric">
              <div className="metric-label">Developers</div>
              <div className="metric-value">{formatCount(m.developers.total)}</div>
              <div className="metric-sub muted small">{formatCount(m.developers.paying)} paying</div>
            </div>
            <div className="metric">
              <div className="metric-label">Plan MRR</div>
              <div className="metric-value">{m.planMrr.map((x) => formatMoney(x.amount, x.currency)).join(" · ") || "—"}</div>
            </div>
            <div className="metric">
              <div className="metric-label">Live projects' MRR</div>
              <div className="metric-value">{m.projectsMrr.map((x) => formatMoney(x.amount, x.currency)).join(" · ") || "—"}</div>
            </div>
            <div className="metric">
              <div className="metric-label">Projects</div>
              <div className="metric-value">{formatCount(m.projects.reduce((n, p) => n + p.count, 0))}</div>
              <div className="metric-sub muted small">{m.projects.map((p) => `${p.count} ${p.mode} ${p.type}`).join(" · ")}</div>
            </div>
            <div className="metric">
              <div className="metric-label">End users</div>
              <div className="metric-value">{formatCount(m.endUsers.total)}</div>
            </div>
            <div className="metric">
              <div className="metric-label">Live subscriptions</div>
              <div className="metric-value">{formatCount(m.liveSubscriptions.active)}</div>
              <div className="metric-sub muted small">
                {m.liveSubscriptions.trialing} trialing · {m.liveSubscriptions.canceling} canceling · {m.liveSubscriptions.pastDue} past due
              </div>
            </div>
          </section>
        )}
      </QueryView>
      <Developers />
      <DriftAudit />
    </>
  );
}

function Developers() {
  const { api } = useApp();
  const [q, setQ] = useState("");
  const [page, setPage] = useState(1);
  const list = useQuery({
    queryKey: ["admin", "developers", q, page],
    queryFn: () => ok(api.platform.GET("/v1/admin/developers", { params: { query: { ...(q ? { q } : {}), page, pageSize: 20 } } })),
  });
  return (
    <section className="panel" aria-labelledby="devs-title">
      <h2 id="devs-title">Developers</h2>
      <label>
        Search (platform id, subject or email prefix)
        <input type="search" value={q} onChange={(e) => (setPage(1), setQ(e.target.value))} maxLength={200} />
      </label>
      <QueryView query={list} what="developers">
        {(res) =>
          res.data.length === 0 ? (
            <Empty>No developers match.</Empty>
          ) : (
            <>
              <div className="table-wrap" tabIndex={0}>
                <table aria-label="Developers">
                  <thead>
                    <tr>
                      <th scope="col">Developer</th>
                      <th scope="col">Plan</th>
                      <th scope="col">Projects</th>
                      <th scope="col">Since</th>
                    </tr>
                  </thead>
                  <tbody>
                    {res.data.map((d) => (
                      <tr key={d.id}>
                        <td>
                          {d.email ?? d.subject} <code className="small">{d.id}</code>
                        </td>
                        <td>
                          <Badge kind={d.billingStatus}>{d.billingStatus}</Badge>
                        </td>
                        <td>
                          {d.projects.live} live · {d.projects.test} test
                        </td>
                        <td>{formatDate(d.createdAt)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager page={page} pageSize={res.pageSize} total={res.total} onPage={setPage} />
            </>
          )
        }
      </QueryView>
    </section>
  );
}

function DriftAudit() {
  const { api, fresh } = useApp();
  const [scope, setScope] = useState<"projectId" | "platformId">("projectId");
  const [id, setId] = useState("");
  const [audit, setAudit] = useState<Drift | null>(null);
  const [plan, setPlan] = useState<Drift | null>(null);
  const [repaired, setRepaired] = useState<number | null>(null);
  const target = { [scope]: id.trim() } as { projectId?: string; platformId?: string };
  const run = useMutation({
    mutationFn: () => ok(api.platform.GET("/v1/admin/drift", { params: { query: target } })).then((r) => r.data),
    onSuccess: (d) => {
      setAudit(d);
      setPlan(null);
      setRepaired(null);
    },
  });
  const dryRun = useMutation({
    mutationFn: () => ok(api.platform.POST("/v1/admin/drift/repair", { body: { ...target, dryRun: true } })).then((r) => r.data),
    onSuccess: (d) => setPlan(d),
  });
  const repair = useMutation({
    mutationFn: () => fresh(() => ok(api.platform.POST("/v1/admin/drift/repair", { body: { ...target, dryRun: false, confirmation: plan!.confirmation } }))).then((r) => r.data),
    onSuccess: (d) => {
      setRepaired(d.repaired);
      setPlan(null);
      setAudit(null);
    },
  });
  return (
    <section className="panel" aria-labelledby="drift-title">
      <h2 id="drift-title">Entitlement drift audit</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          run.mutate();
        }}
      >
        <label>
          Scope
          <select value={scope} onChange={(e) => setScope(e.target.value as typeof scope)}>
            <option value="projectId">Project id</option>
            <option value="platformId">Platform id</option>
          </select>
        </label>
        <label>
          Id
          <input value={id} onChange={(e) => setId(e.target.value)} required placeholder={scope === "projectId" ? "prj_…" : "plt_…"} />
        </label>
        <button type="submit" className="primary" disabled={run.isPending || !id.trim()}>
          {run.isPending ? "Auditing…" : "Audit against Stripe"}
        </button>
      </form>
      {run.error && <ErrorNote error={run.error} />}
      {repaired !== null && <p role="status">Repaired {repaired} subscription{repaired === 1 ? "" : "s"}. Run the audit again to confirm nothing is left.</p>}
      {audit && <DriftReport d={audit} />}
      {audit && audit.drifted.length > 0 && !plan && (
        <button type="button" disabled={dryRun.isPending} onClick={() => dryRun.mutate()}>
          {dryRun.isPending ? "Planning…" : "Dry run the repair"}
        </button>
      )}
      {dryRun.error && <ErrorNote error={dryRun.error} />}
      {plan && (
        <div className="reveal" aria-label="Planned repair">
          <h3>Planned repair ({plan.drifted.length} subscriptions)</h3>
          <ul>
            {plan.drifted.map((x) => (
              <li key={x.id}>
                <code>{x.subscriptionId}</code>: {JSON.stringify(x.repair)}
              </li>
            ))}
          </ul>
          <p className="small muted">
            Confirmation <code>{plan.confirmation}</code>: the repair applies only if the drift is still exactly this.
          </p>
          <button type="button" className="danger" disabled={repair.isPending} onClick={() => repair.mutate()}>
            {repair.isPending ? "Repairing…" : "Confirm repair"}
          </button>
        </div>
      )}
      {repair.error && <ErrorNote error={repair.error} />}
    </section>
  );
}

function DriftReport({ d }: { d: Drift }) {
  return (
    <div aria-label="Drift report">
      <p data-testid="drift-summary">
        Checked {d.checked} of {d.total} subscriptions: {d.drifted.length} drifted, {d.unchecked.length} could not be checked{d.hasMore ? " (more pages remain)" : ""}.
      </p>
      {d.drifted.length === 0 ? (
        <Empty>No drift on this page.</Empty>
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table aria-label="Drifted subscriptions">
            <thead>
              <tr>
                <th scope="col">Subscription</th>
                <th scope="col">End user</th>
                <th scope="col">Discrepancies</th>
              </tr>
            </thead>
            <tbody>
              {d.drifted.map((x) => (
                <tr key={x.id}>
                  <td>
                    <code>{x.subscriptionId}</code>
                  </td>
                  <td>
                    <code className="small">{x.endUserId}</code>
                  </td>
                  <td>
                    {x.discrepancies.map((c, i) => (
                      <div key={i}>
                        <Badge kind="drift">{c.kind}</Badge> ours {JSON.stringify(c.local)} · Stripe {JSON.stringify(c.provider)}
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
