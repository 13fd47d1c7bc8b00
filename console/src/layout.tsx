//! The frame around every page: the header with the test/live switch, the main navigation
//! and the signed-in developer.
import { Link, NavLink, Outlet, matchPath, useLocation, useNavigate } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { setSession, useSession } from "./auth/session";
import { useIsOperator, useProjects, type Project } from "./queries";

type Mode = "test" | "live";

/** Where the switch leads: a project's twin in the other mode, else the same page there. */
export function switchTarget(pathname: string, to: Mode, projects: Project[] | undefined): string {
  const inProject = matchPath("/:mode/projects/:id/*", pathname);
  if (inProject) {
    const id = inProject.params.id!;
    const rest = inProject.params["*"] ?? "";
    const here = projects?.find((p) => p.id === id);
    const twin = here && (to === "live" ? projects?.find((p) => p.promotedFrom === id) : projects?.find((p) => p.id === here.promotedFrom));
    return twin ? `/${to}/projects/${twin.id}/${rest}` : `/${to}/projects`;
  }
  const inMode = matchPath("/:mode/*", pathname);
  if (inMode && (inMode.params.mode === "test" || inMode.params.mode === "live")) return `/${to}/${inMode.params["*"] || "projects"}`;
  return `/${to}/projects`;
}

export function currentMode(pathname: string): Mode | null {
  const m = matchPath("/:mode/*", pathname)?.params.mode;
  return m === "test" || m === "live" ? m : null;
}

function ModeSwitch() {
  const location = useLocation();
  const navigate = useNavigate();
  const projects = useProjects();
  const mode = currentMode(location.pathname) ?? "test";
  return (
    <div className="mode-switch" role="group" aria-label="Mode">
      {(["test", "live"] as const).map((m) => (
        <button key={m} type="button" aria-pressed={mode === m} className={mode === m ? `on mode-${m}` : ""} onClick={() => navigate(switchTarget(location.pathname, m, projects.data?.data))}>
          {m === "test" ? "Test" : "Live"}
        </button>
      ))}
    </div>
  );
}

export function Layout() {
  const session = useSession();
  const location = useLocation();
  const queryClient = useQueryClient();
  const operator = useIsOperator();
  const mode = currentMode(location.pathname) ?? "test";
  return (
    <div className={`shell mode-${mode}`}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to={`/${mode}/projects`} className="brand">
          Tollgate
        </Link>
        <ModeSwitch />
        <nav aria-label="Main">
          <NavLink to={`/${mode}/projects`} end>
            Projects
          </NavLink>
          <NavLink to={`/${mode}/overview`}>Overview</NavLink>
          <NavLink to="/account">Account</NavLink>
          {operator && <NavLink to="/operators">Operators</NavLink>}
        </nav>
        <div className="who">
          <span className="muted small" title={session?.subject}>
            {session?.email ?? session?.subject}
          </span>
          <button
            type="button"
            onClick={() => {
              queryClient.clear();
              setSession(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      {mode === "live" && <div className="live-banner">Live mode: real money and real customers.</div>}
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}

export function NotFound({ what = "page" }: { what?: string }) {
  return (
    <section className="not-found">
      <h1>Not found</h1>
      <p>No such {what}, or it is not yours.</p>
      <Link to="/test/projects">Back to your projects</Link>
    </section>
  );
}
