//! One project's frame: its name and badges, the base URL its code calls, the tabs, and
//! not-found for an id that is not the developer's (the API answers 404 for another tenant's project).
import { NavLink, Outlet, useOutletContext, useParams } from "react-router";
import { useProject, type Project } from "../queries";
import { ApiError } from "../api/errors";
import { NotFound } from "../layout";
import { Badge, CopyButton, ErrorNote, Loading } from "../ui/common";
import { useMode } from "../routes";
import { useApp } from "../app";
import { baseUrl } from "../config";

export function useCurrentProject(): Project {
  return useOutletContext<Project>();
}

export function ProjectLayout() {
  const { id } = useParams();
  const mode = useMode();
  const { config } = useApp();
  const project = useProject(id!);
  if (project.isPending) return <Loading what="the project" />;
  if (project.error) {
    if (project.error instanceof ApiError && project.error.status === 404) return <NotFound what="project" />;
    return <ErrorNote error={project.error} />;
  }
  const p = project.data;
  if (p.mode !== mode) return <NotFound what={`${mode} project with this id`} />;
  const tabs: [string, string][] = [
    ["dashboard", "Dashboard"],
    ["customers", "Customers"],
    ["keys", "Keys"],
    ["catalog", "Catalog"],
    ["webhooks", "Webhooks"],
    ["audit", "Audit trail"],
    ["settings", "Settings"],
  ];
  return (
    <>
      <div className="project-head">
        <h1>{p.name}</h1>
        <div className="badges">
          <Badge kind={p.type}>{p.type === "saas" ? "SaaS" : "Store"}</Badge>
          <Badge kind={p.mode}>{p.mode}</Badge>
        </div>
      </div>
      <BaseUrl url={baseUrl(config, "api")} />
      <nav className="tabs" aria-label="Project">
        {tabs.map(([path, label]) => (
          <NavLink key={path} to={`/${mode}/projects/${p.id}/${path}`}>
            {label}
          </NavLink>
        ))}
      </nav>
      <Outlet context={p} />
    </>
  );
}

/**
 * Where the project's backend and pages call Tollgate (the SDK's `baseUrl`): the api's public
 * URL from config.json, which under one origin (`npm start`, a custom domain on the gateway)
 * is the origin every route answers on.
 */
function BaseUrl({ url }: { url: string }) {
  return (
    <div className="secret-row">
      <span className="muted">Base URL</span>
      <code className="secret" data-testid="base-url">
        {url}
      </code>
      <CopyButton value={url} label="Copy the base URL" />
    </div>
  );
}
