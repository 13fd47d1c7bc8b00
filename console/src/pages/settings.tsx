//! Project settings: the name, redirect origins, the end-user identity provider, and delete
//! (a fresh sign-in and the project's name typed to confirm).
import { useState } from "react";
import { useNavigate } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApp } from "../app";
import { ok } from "../api/client";
import { keys } from "../queries";
import { useCurrentProject } from "./project";
import { ConfirmByName, ErrorNote, QueryView } from "../ui/common";
import { lines } from "../lib/format";

export function SettingsPage() {
  return (
    <>
      <Rename />
      <RedirectOrigins />
      <CheckoutLimits />
      <EndUserAuth />
      <DeleteProject />
    </>
  );
}

function Rename() {
  const project = useCurrentProject();
  const { api } = useApp();
  const queryClient = useQueryClient();
  const [name, setName] = useState(project.name);
  const save = useMutation({
    mutationFn: () => ok(api.platform.PATCH("/v1/projects/{id}", { params: { path: { id: project.id } }, body: { name: name.trim(), updatedAt: project.updatedAt } })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.project(project.id) });
      void queryClient.invalidateQueries({ queryKey: keys.projects });
    },
  });
  return (
    <section className="panel" aria-labelledby="rename-title">
      <h2 id="rename-title">Name</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <label>
          Project name
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </label>
        <button type="submit" disabled={save.isPending || name.trim() === project.name}>
          Rename
        </button>
      </form>
      {save.error && <ErrorNote error={save.error} onReload={() => void queryClient.invalidateQueries({ queryKey: keys.project(project.id) })} />}
      {save.isSuccess && <p role="status">Renamed.</p>}
    </section>
  );
}

const LIMITS = [
  ["unitsPerProduct", "Units of one product a buyer may hold", 1, 99],
  ["unitsPerBuyer", "Units a buyer may hold across open carts", 1, 1980],
  ["guestCarts", "Open guest carts in the project", 1, 100000],
  ["guestCartsPerMinute", "Guest carts one address may open a minute", 1, 600],
  ["streamsPerSession", "Status streams open per checkout session", 1, 20],
  ["streamIdleSeconds", "Seconds a status stream waits without news", 1, 3600],
] as const;

type LimitName = (typeof LIMITS)[number][0];

/** The rate limits a developer can set: what carts may hold and open (checkoutLimits). */
function CheckoutLimits() {
  const project = useCurrentProject();
  const { api } = useApp();
  const queryClient = useQueryClient();
  const [values, setValues] = useState<Record<LimitName, string>>(() => Object.fromEntries(LIMITS.map(([k]) => [k, String(project.checkoutLimits[k])])) as Record<LimitName, string>);
  const changed = LIMITS.filter(([k]) => values[k] !== String(project.checkoutLimits[k]));
  const save = useMutation({
    mutationFn: () =>
      ok(
        api.platform.PATCH("/v1/projects/{id}", {
          params: { path: { id: project.id } },
          body: { checkoutLimits: Object.fromEntries(changed.map(([k]) => [k, Number(values[k])])), updatedAt: project.updatedAt },
        }),
      ),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.project(project.id) }),
  });
  return (
    <section className="panel" aria-labelledby="limits-title">
      <h2 id="limits-title">Checkout limits</h2>
      <p className="muted">What one buyer, one guest address and one checkout may hold or open, checked before Stripe is called.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <div className="grid">
          {LIMITS.map(([k, label, min, max]) => (
            <label key={k}>
              {label}
              <input type="number" name={k} min={min} max={max} value={values[k]} onChange={(e) => setValues((v) => ({ ...v, [k]: e.target.value }))} required />
            </label>
          ))}
        </div>
        <button type="submit" disabled={save.isPending || changed.length === 0}>
          Save limits
        </button>
      </form>
      {save.error && <ErrorNote error={save.error} onReload={() => void queryClient.invalidateQueries({ queryKey: keys.project(project.id) })} />}
    </section>
  );
}

function RedirectOrigins() {
  const project = useCurrentProject();
  const { api, fresh } = useApp();
  const queryClient = useQueryClient();
  const key = keys.projectScoped(project.id, "redirect-origins");
  const q = useQuery({
    queryKey: key,
    queryFn: () => ok(api.platform.GET("/v1/projects/{id}/redirect-origins", { params: { path: { id: project.id } } })),
  });
  const [text, setText] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (origins: string[]) => fresh(() => ok(api.platform.PUT("/v1/projects/{id}/redirect-origins", { params: { path: { id: project.id } }, body: { origins } }))),
    onSuccess: () => {
      setText(null);
      void queryClient.invalidateQueries({ queryKey: key });
      // The project row moved with it (its updatedAt), which a rename sends back.
      void queryClient.invalidateQueries({ queryKey: keys.project(project.id) });
    },
  });
  return (
    <section className="panel" aria-labelledby="origins-title">
      <h2 id="origins-title">Redirect origins</h2>
      <p className="muted">Checkout and billing-portal pages may send buyers back only to these origins (bare https origins; test mode also accepts loopback).</p>
      <QueryView query={q} what="redirect origins">
        {(res) => {
          const current = (res as unknown as { data: { origins: string[] } }).data.origins;
          return (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                save.mutate(lines(text ?? current.join("\n")));
              }}
            >
              <label>
                One origin per line
                <textarea rows={3} value={text ?? current.join("\n")} onChange={(e) => setText(e.target.value)} placeholder="https://app.example.com" />
              </label>
              <button type="submit" disabled={save.isPending || text === null}>
                Save origins
              </button>
            </form>
          );
        }}
      </QueryView>
      {save.error && <ErrorNote error={save.error} />}
    </section>
  );
}

function EndUserAuth() {
  const project = useCurrentProject();
  const { api, fresh } = useApp();
  const queryClient = useQueryClient();
  const current = project.endUserAuth;
  const [issuer, setIssuer] = useState(current?.issuer ?? "");
  const [jwksUrl, setJwksUrl] = useState(current?.jwksUrl ?? "");
  const [audience, setAudience] = useState(current?.audience ?? "");
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.project(project.id) });
  const save = useMutation({
    mutationFn: () => fresh(() => ok(api.platform.PUT("/v1/projects/{id}/end-user-auth", { params: { path: { id: project.id } }, body: { issuer: issuer.trim(), jwksUrl: jwksUrl.trim(), audience: audience.trim() } }))),
    onSuccess: () => void refresh(),
  });
  const clear = useMutation({
    mutationFn: () => fresh(() => ok(api.platform.DELETE("/v1/projects/{id}/end-user-auth", { params: { path: { id: project.id } } }))),
    onSuccess: () => void refresh(),
  });
  return (
    <section className="panel" aria-labelledby="eua-title">
      <h2 id="eua-title">End-user identity provider</h2>
      <p className="muted">{current ? `End-user JWTs from ${current.issuer} are trusted.` : "None: end users use tokens your backend mints with the secret key."}</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <label>
          Issuer
          <input type="url" value={issuer} onChange={(e) => setIssuer(e.target.value)} required />
        </label>
        <label>
          JWKS URL
          <input type="url" value={jwksUrl} onChange={(e) => setJwksUrl(e.target.value)} required />
        </label>
        <label>
          Audience
          <input value={audience} onChange={(e) => setAudience(e.target.value)} required />
        </label>
        <div className="actions">
          <button type="submit" disabled={save.isPending}>
            Trust this provider
          </button>
          {current && (
            <button type="button" disabled={clear.isPending} onClick={() => clear.mutate()}>
              Stop trusting it
            </button>
          )}
        </div>
      </form>
      {save.error && <ErrorNote error={save.error} />}
      {clear.error && <ErrorNote error={clear.error} />}
    </section>
  );
}

function DeleteProject() {
  const project = useCurrentProject();
  const { api, fresh } = useApp();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const remove = useMutation({
    mutationFn: () => fresh(() => ok(api.platform.DELETE("/v1/projects/{id}", { params: { path: { id: project.id } } }))),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: keys.project(project.id) });
      void queryClient.invalidateQueries({ queryKey: keys.projects });
      navigate(`/${project.mode}/projects`);
    },
  });
  return (
    <section className="panel danger-zone" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete this project</h2>
      <p>Its keys stop at once and its end users can no longer be metered. This cannot be undone.</p>
      <ConfirmByName name={project.name} action="Delete project" busy={remove.isPending} onConfirm={() => remove.mutate()} />
      {remove.error && <ErrorNote error={remove.error} />}
    </section>
  );
}
