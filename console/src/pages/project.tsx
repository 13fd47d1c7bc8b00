//! One project's frame: its name and badges, the tabs, and not-found for an id that is not
//! the developer's (the API answers 404 for another tenant's project).
import { NavLink, Outlet, useOutletContext, useParams } from "react-router";
import { useProject, type Project } from "../queries";
import { ApiError } from "../api/errors";
import { NotFound } from "../layout";
import { Badge, ErrorNote, Loading } from "../ui/common";
import { useMode } from "../routes";

export function useCurrentProject(): Project {
  return useOutletContext<Project>();
}

export function ProjectLayout() {
  const { id } = useParams();
  const mode = useMode();
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
