//! The audit trail: every write with its actor, time and request id, newest first, with
//! filters over the page shown (the contract pages the trail; it has no server-side filter).
import { useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useApp } from "../app";
import { ok } from "../api/client";
import type { components } from "../api/schema";
import { useCurrentProject } from "./project";
import { Empty, Pager, QueryView } from "../ui/common";
import { formatDate } from "../lib/format";

type AuditEvent = components["schemas"]["AuditEvent"];

export function AuditPage() {
  const project = useCurrentProject();
  const { api } = useApp();
  const [page, setPage] = useState(1);
  const q = useQuery({
    queryKey: ["project", project.id, "audit", page],
    queryFn: () => ok(api.platform.GET("/v1/projects/{id}/audit", { params: { path: { id: project.id }, query: { page, pageSize: 50 } } })),
  });
  return (
    <section className="panel" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit trail</h2>
      <QueryView query={q} what="the audit trail">
        {(res) => (
          <>
            <AuditTable events={res.data as AuditEvent[]} />
            <Pager page={page} pageSize={res.pageSize} total={res.total} onPage={setPage} />
          </>
        )}
      </QueryView>
    </section>
  );
}

export function AuditTable({ events }: { events: AuditEvent[] }) {
  const [action, setAction] = useState("");
  const [actor, setActor] = useState("");
  const actions = useMemo(() => [...new Set(events.map((e) => e.action))].sort(), [events]);
  const shown = events.filter((e) => (!action || e.action === action) && (!actor || e.actor.toLowerCase().includes(actor.toLowerCase())));
  return (
    <>
      <div className="filters">
        <label>
          Action
          <select value={action} onChange={(e) => setAction(e.target.value)}>
            <option value="">any</option>
            {actions.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          Actor contains
          <input value={actor} onChange={(e) => setActor(e.target.value)} />
        </label>
      </div>
      {shown.length === 0 ? (
        <Empty>No events{action || actor ? " match the filters" : " yet"}.</Empty>
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table aria-label="Audit events">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">Request id</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.id}>
                  <td>{formatDate(e.createdAt)}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{e.actor}</td>
                  <td>
                    {e.targetType} <code className="small">{e.targetId}</code>
                  </td>
                  <td>
                    <code className="small">{e.requestId}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
