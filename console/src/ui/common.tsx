//! Small shared pieces: the error note (safe message + requestId), loading and empty
//! states, copy buttons, the one-time secret reveal, badges and a confirm-by-typing box.
import { useState, type ReactNode } from "react";
import { describeError } from "../api/errors";

export function ErrorNote({ error, onReload }: { error: unknown; onReload?: () => void }) {
  const d = describeError(error);
  const fields = Object.entries(d.fieldErrors);
  return (
    <div className="error-note" role="alert">
      <p>
        <strong>{d.message}</strong>
      </p>
      {fields.length > 0 && (
        <ul>
          {fields.map(([k, v]) => (
            <li key={k}>
              <code>{k}</code>: {v.join("; ")}
            </li>
          ))}
        </ul>
      )}
      {(d.code || d.requestId) && (
        <p className="muted small">
          {d.code && <>code <code>{d.code}</code></>} {d.requestId && <>· request id <code className="request-id">{d.requestId}</code></>}
        </p>
      )}
      {d.code === "stale_update" && onReload && (
        <button type="button" onClick={onReload}>
          Reload
        </button>
      )}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** Wraps a query's three states; `children` renders the data. */
export function QueryView<T>({ query, what, children }: { query: { isPending: boolean; error: unknown; data: T | undefined; refetch: () => unknown }; what: string; children: (data: T) => ReactNode }) {
  if (query.isPending) return <Loading what={what} />;
  if (query.error) return <ErrorNote error={query.error} onReload={() => void query.refetch()} />;
  return <>{children(query.data as T)}</>;
}

export function CopyButton({ value, label }: { value: string; label: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <button
      type="button"
      className="copy"
      aria-label={label}
      onClick={() => {
        navigator.clipboard.writeText(value).then(
          () => setState("copied"),
          () => setState("failed"),
        );
      }}
    >
      {state === "copied" ? "Copied" : state === "failed" ? "Copy failed: select the text" : "Copy"}
    </button>
  );
}

/**
 * A secret shown once. It lives only in the state of this component: "I have stored it"
 * drops it for good.
 */
export function SecretReveal({ title, secret, note, onDone }: { title: string; secret: string; note: string; onDone: () => void }) {
  const [stored, setStored] = useState(false);
  return (
    <section className="reveal" aria-labelledby="reveal-title">
      <h3 id="reveal-title">{title}</h3>
      <p>{note}</p>
      <div className="secret-row">
        <code className="secret" data-testid="revealed-secret">
          {secret}
        </code>
        <CopyButton value={secret} label="Copy the secret" />
      </div>
      <label className="check">
        <input type="checkbox" checked={stored} onChange={(e) => setStored(e.target.checked)} /> I have stored it somewhere safe
      </label>
      <button type="button" className="primary" disabled={!stored} onClick={onDone}>
        Done: hide it
      </button>
    </section>
  );
}

export function Badge({ kind, children }: { kind: string; children: ReactNode }) {
  return <span className={`badge badge-${kind}`}>{children}</span>;
}

/** A destructive button that stays disabled until the exact name is typed. */
export function ConfirmByName({ name, action, busy, onConfirm }: { name: string; action: string; busy: boolean; onConfirm: () => void }) {
  const [typed, setTyped] = useState("");
  return (
    <form
      className="confirm"
      onSubmit={(e) => {
        e.preventDefault();
        if (typed === name) onConfirm();
      }}
    >
      <label>
        Type <strong>{name}</strong> to confirm
        <input value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
      </label>
      <button type="submit" className="danger" disabled={typed !== name || busy}>
        {busy ? "Working…" : action}
      </button>
    </form>
  );
}

/** A button that asks once more in place (no browser dialog) before it acts. */
export function ConfirmButton({ label, text, confirmLabel, question, busy, onConfirm, className = "danger" }: { label: string; text?: string; confirmLabel: string; question: string; busy?: boolean; onConfirm: () => void; className?: string }) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className={className} aria-label={label} disabled={busy} onClick={() => setAsking(true)}>
        {text ?? label}
      </button>
    );
  return (
    <span className="confirm-inline" role="group" aria-label={question}>
      <span className="small">{question}</span>
      <button
        type="button"
        className={className}
        autoFocus
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

export function Pager({ page, pageSize, total, onPage }: { page: number; pageSize: number; total: number; onPage: (p: number) => void }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  if (pages <= 1) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span>
        Page {page} of {pages}
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
