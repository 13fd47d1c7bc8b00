//! Keys: the publishable key, the secret keys' metadata, rotate (with a grace period) and
//! revoke, both behind a fresh sign-in; a new secret is shown once.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApp } from "../app";
import { idempotencyKey, ok } from "../api/client";
import { asPage, keys as qk, type Key } from "../queries";
import { useCurrentProject } from "./project";
import { Badge, ConfirmButton, CopyButton, Empty, ErrorNote, QueryView, SecretReveal } from "../ui/common";
import { formatDate } from "../lib/format";

const GRACE = [
  [0, "None: the old key stops now"],
  [3600, "1 hour"],
  [86400, "24 hours"],
  [604800, "7 days"],
] as const;

export function KeysPage() {
  const project = useCurrentProject();
  const { api, fresh } = useApp();
  const queryClient = useQueryClient();
  const [grace, setGrace] = useState(3600);
  const [revealed, setRevealed] = useState<string | null>(null);
  const list = useQuery({
    queryKey: qk.projectScoped(project.id, "keys"),
    queryFn: () => ok(api.platform.GET("/v1/projects/{id}/keys", { params: { path: { id: project.id }, query: { pageSize: 100 } } })).then((r) => asPage<Key>(r)),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: qk.projectScoped(project.id, "keys") });
  const rotate = useMutation({
    mutationFn: () =>
      fresh(() =>
        ok(
          api.platform.POST("/v1/projects/{id}/keys/rotate", {
            params: { path: { id: project.id }, header: { "Idempotency-Key": idempotencyKey() } },
            body: { gracePeriodSeconds: grace },
          }),
        ),
      ),
    onSuccess: (res) => {
      setRevealed(res.data.secretKey);
      void refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (keyId: string) => fresh(() => ok(api.platform.POST("/v1/projects/{id}/keys/{keyId}/revoke", { params: { path: { id: project.id, keyId } } }))),
    onSuccess: () => void refresh(),
  });

  return (
    <>
      <section className="panel" aria-labelledby="pk-title">
        <h2 id="pk-title">Publishable key</h2>
        <p className="muted">Safe in browsers and apps: it only reads the public catalog and meters with an end-user token.</p>
        <div className="secret-row">
          <code data-testid="publishable-key">{project.publishableKey}</code>
          <CopyButton value={project.publishableKey} label="Copy the publishable key" />
        </div>
      </section>

      {revealed && (
        <SecretReveal
          title="Your new secret key"
          secret={revealed}
          note="Put it in your backend's secrets now: it is shown only this once."
          onDone={() => setRevealed(null)}
        />
      )}

      <section className="panel" aria-labelledby="sk-title">
        <h2 id="sk-title">Secret keys</h2>
        <QueryView query={list} what="keys">
          {(page) =>
            page.data.length === 0 ? (
              <Empty>No secret keys.</Empty>
            ) : (
              <div className="table-wrap" tabIndex={0}>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Key</th>
                      <th scope="col">Status</th>
                      <th scope="col">Created</th>
                      <th scope="col">Last used</th>
                      <th scope="col">Works until</th>
                      <th scope="col">
                        <span className="sr-only">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((k) => (
                      <tr key={k.id}>
                        <td>
                          <code>{k.display}</code>
                        </td>
                        <td>
                          <Badge kind={k.status}>{k.status}</Badge>
                        </td>
                        <td>{formatDate(k.createdAt)}</td>
                        <td title="Kept to within five minutes">{k.lastUsedAt ? formatDate(k.lastUsedAt) : "never"}</td>
                        <td>{k.status === "revoked" ? `revoked ${formatDate(k.revokedAt)}` : k.expiresAt ? formatDate(k.expiresAt) : "no expiry"}</td>
                        <td>
                          {k.status !== "revoked" && (
                            <ConfirmButton
                              label={`Revoke ${k.display}`}
                              text="Revoke"
                              confirmLabel="Revoke now"
                              question="Calls with this key fail at once."
                              busy={revoke.isPending}
                              onConfirm={() => revoke.mutate(k.id)}
                            />
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </QueryView>
        {revoke.error && <ErrorNote error={revoke.error} />}
      </section>

      <section className="panel" aria-labelledby="rotate-title">
        <h2 id="rotate-title">Rotate the secret key</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            rotate.mutate();
          }}
        >
          <label>
            Grace period for the current key
            <select value={grace} onChange={(e) => setGrace(Number(e.target.value))}>
              {GRACE.map(([s, label]) => (
                <option key={s} value={s}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" className="primary" disabled={rotate.isPending}>
            {rotate.isPending ? "Rotating…" : "Rotate key"}
          </button>
        </form>
        {rotate.error && <ErrorNote error={rotate.error} />}
      </section>
    </>
  );
}
