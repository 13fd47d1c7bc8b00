//! Webhooks: endpoints (create with the signing secret shown once, an event picker, edit,
//! enable/disable, rotate the secret, delete, send a test event) and the deliveries log with
//! resend.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApp } from "../app";
import { idempotencyKey, ok } from "../api/client";
import type { components } from "../api/schema";
import { keys } from "../queries";
import { useCurrentProject } from "./project";
import { Badge, ConfirmButton, Empty, ErrorNote, Pager, QueryView, SecretReveal } from "../ui/common";
import { formatDate } from "../lib/format";

type Endpoint = components["schemas"]["WebhookEndpoint"];
type EventType = components["schemas"]["WebhookEventType"];
type EventOrAll = components["schemas"]["WebhookEventTypeOrAll"];
type DeliveredType = components["schemas"]["WebhookDeliveredType"];

const EVENT_TYPES: EventType[] = ["customer.created", "subscription.updated", "usage.threshold_reached", "order.completed", "order.needs_attention", "entitlement.changed", "order.refunded"];
/** What the deliveries log can be narrowed to: the subscribable types and the test event. */
const DELIVERED_TYPES: DeliveredType[] = [...EVENT_TYPES, "webhook.test"];

export function WebhooksPage() {
  const project = useCurrentProject();
  const { api } = useApp();
  const endpoints = useQuery({
    queryKey: keys.projectScoped(project.id, "webhook-endpoints"),
    queryFn: () => ok(api.webhooks.GET("/v1/projects/{id}/webhook-endpoints", { params: { path: { id: project.id }, query: { pageSize: 100 } } })).then((r) => r.data),
  });
  const [revealed, setRevealed] = useState<string | null>(null);
  return (
    <>
      {revealed && <SecretReveal title="The endpoint's signing secret" secret={revealed} note="Verify deliveries with it. It is shown only this once." onDone={() => setRevealed(null)} />}
      <section className="panel" aria-labelledby="endpoints-title">
        <h2 id="endpoints-title">Endpoints</h2>
        <QueryView query={endpoints} what="endpoints">
          {(list) =>
            list.length === 0 ? (
              <Empty>No endpoints yet. Add one to hear about customers, usage and orders.</Empty>
            ) : (
              <ul className="endpoint-list">
                {list.map((e) => (
                  <EndpointRow key={`${e.id}-${e.updatedAt}`} endpoint={e} onSecret={setRevealed} />
                ))}
              </ul>
            )
          }
        </QueryView>
        <EndpointForm onSecret={setRevealed} />
      </section>
      <Deliveries endpoints={endpoints.data ?? []} />
    </>
  );
}

function EventPicker({ value, onChange }: { value: EventOrAll[]; onChange: (v: EventOrAll[]) => void }) {
  const all = value.includes("*");
  return (
    <fieldset className="events">
      <legend>Events</legend>
      <label className="check">
        <input type="checkbox" checked={all} onChange={(e) => onChange(e.target.checked ? ["*"] : [])} /> All events (including future ones)
      </label>
      {EVENT_TYPES.map((t) => (
        <label key={t} className="check">
          <input
            type="checkbox"
            disabled={all}
            checked={all || value.includes(t)}
            onChange={(e) => onChange(e.target.checked ? [...value.filter((v) => v !== "*"), t] : value.filter((v) => v !== t))}
          />{" "}
          <code>{t}</code>
        </label>
      ))}
    </fieldset>
  );
}

function EndpointForm({ onSecret }: { onSecret: (s: string) => void }) {
  const project = useCurrentProject();
  const { api, fresh } = useApp();
  const queryClient = useQueryClient();
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [events, setEvents] = useState<EventOrAll[]>(["*"]);
  const create = useMutation({
    mutationFn: () =>
      fresh(() =>
        ok(
          api.webhooks.POST("/v1/projects/{id}/webhook-endpoints", {
            params: { path: { id: project.id }, header: { "Idempotency-Key": idempotencyKey() } },
            body: { url: url.trim(), events, description: description.trim() || null },
          }),
        ),
      ),
    onSuccess: (res) => {
      onSecret(res.data.secret);
      setUrl("");
      setDescription("");
      void queryClient.invalidateQueries({ queryKey: keys.projectScoped(project.id, "webhook-endpoints") });
    },
  });
  return (
    <form
      className="item-form"
      aria-label="New endpoint"
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <h3>Add an endpoint</h3>
      <label>
        URL
        <input name="url" type="url" value={url} onChange={(e) => setUrl(e.target.value)} required placeholder="https://example.com/hooks/tollgate" />
      </label>
      <label>
        Description
        <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={256} />
      </label>
      <EventPicker value={events} onChange={setEvents} />
      <button type="submit" className="primary" disabled={create.isPending || events.length === 0}>
        {create.isPending ? "Adding…" : "Add endpoint"}
      </button>
      {create.error && <ErrorNote error={create.error} />}
    </form>
  );
}

function EndpointRow({ endpoint, onSecret }: { endpoint: Endpoint; onSecret: (s: string) => void }) {
  const project = useCurrentProject();
  const { api, fresh } = useApp();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [url, setUrl] = useState(endpoint.url);
  const [events, setEvents] = useState<EventOrAll[]>(endpoint.events);
  const [grace, setGrace] = useState(3600);
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.projectScoped(project.id, "webhook-endpoints") });
  const path = { id: project.id, endpointId: endpoint.id };
  const edit = useMutation({
    mutationFn: (body: { url?: string; events?: EventOrAll[]; status?: "enabled" | "disabled" }) =>
      fresh(() => ok(api.webhooks.PATCH("/v1/projects/{id}/webhook-endpoints/{endpointId}", { params: { path }, body: { ...body, updatedAt: endpoint.updatedAt } }))),
    onSuccess: () => {
      setEditing(false);
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: () => fresh(() => ok(api.webhooks.DELETE("/v1/projects/{id}/webhook-endpoints/{endpointId}", { params: { path } }))),
    onSuccess: () => void refresh(),
  });
  const rotate = useMutation({
    mutationFn: () =>
      fresh(() =>
        ok(api.webhooks.POST("/v1/projects/{id}/webhook-endpoints/{endpointId}/rotate-secret", { params: { path, header: { "Idempotency-Key": idempotencyKey() } }, body: { gracePeriodSeconds: grace } })),
      ),
    onSuccess: (res) => {
      onSecret(res.data.secret);
      void refresh();
    },
  });
  const sendTest = useMutation({
    mutationFn: () => ok(api.webhooks.POST("/v1/projects/{id}/webhook-endpoints/{endpointId}/test", { params: { path } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.projectScoped(project.id, "webhook-deliveries") }),
  });
  return (
    <li className="endpoint">
      <div className="endpoint-head">
        <code className="endpoint-url">{endpoint.url}</code> <Badge kind={endpoint.status}>{endpoint.status}</Badge>
      </div>
      <p className="muted small">
        {endpoint.description ? `${endpoint.description} · ` : ""}events: {endpoint.events.join(", ")} · secret …{endpoint.secretLast4}
        {endpoint.previousSecretExpiresAt ? ` · previous secret signs until ${formatDate(endpoint.previousSecretExpiresAt)}` : ""}
      </p>
      {editing ? (
        <form
          className="item-form"
          aria-label={`Edit ${endpoint.url}`}
          onSubmit={(e) => {
            e.preventDefault();
            edit.mutate({ url: url.trim(), events });
          }}
        >
          <label>
            URL
            <input type="url" value={url} onChange={(e) => setUrl(e.target.value)} required />
          </label>
          <EventPicker value={events} onChange={setEvents} />
          <div className="actions">
            <button type="submit" className="primary" disabled={edit.isPending || events.length === 0}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div className="actions">
          <button type="button" aria-label={`Edit ${endpoint.url}`} onClick={() => setEditing(true)}>
            Edit
          </button>
          <button type="button" disabled={edit.isPending} onClick={() => edit.mutate({ status: endpoint.status === "enabled" ? "disabled" : "enabled" })}>
            {endpoint.status === "enabled" ? "Disable" : "Enable"}
          </button>
          <label className="inline">
            Old secret keeps signing for
            <select value={grace} onChange={(e) => setGrace(Number(e.target.value))}>
              <option value={0}>no time</option>
              <option value={3600}>1 hour</option>
              <option value={86400}>24 hours</option>
            </select>
          </label>
          <button type="button" disabled={rotate.isPending} onClick={() => rotate.mutate()}>
            Rotate secret
          </button>
          {endpoint.status === "enabled" && (
            <button type="button" aria-label={`Send a test event to ${endpoint.url}`} disabled={sendTest.isPending} onClick={() => sendTest.mutate()}>
              {sendTest.isPending ? "Sending…" : "Send test event"}
            </button>
          )}
          <ConfirmButton label={`Delete ${endpoint.url}`} text="Delete" confirmLabel="Delete endpoint" question="It receives nothing more." busy={remove.isPending} onConfirm={() => remove.mutate()} />
        </div>
      )}
      {sendTest.isSuccess && (
        <p className="muted small" role="status">
          Test event {sendTest.data.data.eventId} queued: follow it in the deliveries below.
        </p>
      )}
      {[edit.error, remove.error, rotate.error, sendTest.error].map((err, i) => err && <ErrorNote key={i} error={err} onReload={() => void refresh()} />)}
    </li>
  );
}

function Deliveries({ endpoints }: { endpoints: Endpoint[] }) {
  const project = useCurrentProject();
  const { api } = useApp();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<"" | "pending" | "delivered" | "failed">("");
  const [endpointId, setEndpointId] = useState("");
  const [eventType, setEventType] = useState<"" | DeliveredType>("");
  const [page, setPage] = useState(1);
  const q = useQuery({
    queryKey: [...keys.projectScoped(project.id, "webhook-deliveries"), status, endpointId, eventType, page],
    queryFn: () =>
      ok(
        api.webhooks.GET("/v1/projects/{id}/webhook-deliveries", {
          params: { path: { id: project.id }, query: { page, pageSize: 20, ...(status ? { status } : {}), ...(endpointId ? { endpointId } : {}), ...(eventType ? { eventType } : {}) } },
        }),
      ),
    refetchInterval: 5000,
  });
  const resend = useMutation({
    mutationFn: (deliveryId: string) => ok(api.webhooks.POST("/v1/projects/{id}/webhook-deliveries/{deliveryId}/resend", { params: { path: { id: project.id, deliveryId } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.projectScoped(project.id, "webhook-deliveries") }),
  });
  return (
    <section className="panel" aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Deliveries</h2>
      <div className="filters">
        <label>
          Status
          <select value={status} onChange={(e) => (setPage(1), setStatus(e.target.value as typeof status))}>
            <option value="">any</option>
            <option value="pending">pending</option>
            <option value="delivered">delivered</option>
            <option value="failed">failed</option>
          </select>
        </label>
        <label>
          Endpoint
          <select value={endpointId} onChange={(e) => (setPage(1), setEndpointId(e.target.value))}>
            <option value="">any</option>
            {endpoints.map((e) => (
              <option key={e.id} value={e.id}>
                {e.url}
              </option>
            ))}
          </select>
        </label>
        <label>
          Event
          <select value={eventType} onChange={(e) => (setPage(1), setEventType(e.target.value as typeof eventType))}>
            <option value="">any</option>
            {DELIVERED_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      </div>
      <QueryView query={q} what="deliveries">
        {(res) =>
          res.data.length === 0 ? (
            <Empty>No deliveries yet.</Empty>
          ) : (
            <>
              <div className="table-wrap" tabIndex={0}>
                <table aria-label="Deliveries">
                  <thead>
                    <tr>
                      <th scope="col">Event</th>
                      <th scope="col">Status</th>
                      <th scope="col">Attempts</th>
                      <th scope="col">Response</th>
                      <th scope="col">Last attempt</th>
                      <th scope="col">
                        <span className="sr-only">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {res.data.map((d) => (
                      <tr key={d.id}>
                        <td>
                          {d.eventType} <code className="small">{d.eventId}</code>
                        </td>
                        <td>
                          <Badge kind={d.status}>{d.status}</Badge>
                        </td>
                        <td>{d.attempts}</td>
                        <td>{d.lastStatusCode ?? d.lastError ?? "—"}</td>
                        <td>{formatDate(d.lastAttemptAt)}</td>
                        <td>
                          <button type="button" aria-label={`Resend ${d.eventId}`} disabled={resend.isPending} onClick={() => resend.mutate(d.id)}>
                            Resend
                          </button>
                        </td>
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
      {resend.error && <ErrorNote error={resend.error} />}
    </section>
  );
}
