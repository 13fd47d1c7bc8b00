//! Projects: the list of the mode's projects with their badges, and create (type fixed at
//! creation) with the secret key's one-time reveal.
import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useApp } from "../app";
import { idempotencyKey, ok } from "../api/client";
import { keys, useProjects } from "../queries";
import { useMode } from "../routes";
import { Badge, Empty, ErrorNote, QueryView, SecretReveal } from "../ui/common";
import { formatDate } from "../lib/format";

export function ProjectsPage() {
  const mode = useMode();
  const projects = useProjects();
  return (
    <>
      <h1>Projects</h1>
      <QueryView query={projects} what="projects">
        {(page) => {
          const mine = page.data.filter((p) => p.mode === mode);
          if (mine.length === 0)
            return <Empty>{mode === "test" ? "No test projects yet: create one below." : "No live projects yet. A test project goes live from its Catalog page (Go live), or create one below."}</Empty>;
          return (
            <ul className="cards" aria-label="Projects">
              {mine.map((p) => (
                <li key={p.id} className="card">
                  <Link to={`/${mode}/projects/${p.id}/dashboard`} className="card-title">
                    {p.name}
                  </Link>
                  <div className="badges">
                    <Badge kind={p.type}>{p.type === "saas" ? "SaaS" : "Store"}</Badge>
                    <Badge kind={p.mode}>{p.mode}</Badge>
                  </div>
                  <p className="muted small">
                    <code>{p.id}</code> · created {formatDate(p.createdAt)}
                  </p>
                </li>
              ))}
            </ul>
          );
        }}
      </QueryView>
      <CreateProject mode={mode} />
    </>
  );
}

function CreateProject({ mode }: { mode: "test" | "live" }) {
  const { api } = useApp();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [type, setType] = useState<"saas" | "store">("saas");
  const [revealed, setRevealed] = useState<{ secret: string; id: string } | null>(null);
  const create = useMutation({
    mutationFn: () =>
      ok(
        api.platform.POST("/v1/projects", {
          params: { header: { "Idempotency-Key": idempotencyKey() } },
          body: { name: name.trim(), type, mode },
        }),
      ),
    onSuccess: (res) => {
      setRevealed({ secret: res.data.secretKey, id: res.data.project.id });
      setName("");
      void queryClient.invalidateQueries({ queryKey: keys.projects });
    },
  });

  if (revealed)
    return (
      <SecretReveal
        title="Your project's secret key"
        secret={revealed.secret}
        note="Store it in your backend's secrets now: Tollgate shows it only this once. The publishable key is on the Keys page."
        onDone={() => {
          const id = revealed.id;
          setRevealed(null);
          navigate(`/${mode}/projects/${id}/keys`);
        }}
      />
    );

  return (
    <section aria-labelledby="create-title" className="panel">
      <h2 id="create-title">Create a {mode} project</h2>
      {mode === "live" && <p className="muted">Live keys work while your Tollgate plan is active (Account).</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <label>
          Name
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </label>
        <fieldset>
          <legend>Type (fixed once created)</legend>
          <label className="check">
            <input type="radio" name="type" value="saas" checked={type === "saas"} onChange={() => setType("saas")} /> SaaS: tiers with usage limits
          </label>
          <label className="check">
            <input type="radio" name="type" value="store" checked={type === "store"} onChange={() => setType("store")} /> Store: products with inventory
          </label>
        </fieldset>
        <button type="submit" className="primary" disabled={create.isPending || !name.trim()}>
          {create.isPending ? "Creating…" : "Create project"}
        </button>
      </form>
      {create.error && <ErrorNote error={create.error} />}
    </section>
  );
}
