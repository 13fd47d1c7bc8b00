//! The console's routes. The mode (test or live) is the first path segment, so every link
//! inside a mode keeps it; the dashboard pages load uPlot on demand.
import { lazy, Suspense, type ReactNode } from "react";
import { createBrowserRouter, Navigate, useParams } from "react-router";
import { Layout, NotFound } from "./layout";
import { ProjectsPage } from "./pages/projects";
import { ProjectLayout } from "./pages/project";
import { KeysPage } from "./pages/keys";
import { CatalogPage } from "./pages/catalog";
import { WebhooksPage } from "./pages/webhooks";
import { AuditPage } from "./pages/audit";
import { SettingsPage } from "./pages/settings";
import { AccountPage } from "./pages/account";
import { OperatorsPage } from "./pages/operators";
import { CustomerDetailPage, CustomersPage } from "./pages/customers";
import { Loading } from "./ui/common";

const DashboardPage = lazy(() => import("./pages/dashboard").then((m) => ({ default: m.DashboardPage })));
const TotalsPage = lazy(() => import("./pages/dashboard").then((m) => ({ default: m.TotalsPage })));

function Deferred({ children }: { children: ReactNode }) {
  return <Suspense fallback={<Loading what="the page" />}>{children}</Suspense>;
}

export type Mode = "test" | "live";

/** The mode of the current route; anything else is not a page. */
export function useMode(): Mode {
  const { mode } = useParams();
  return mode === "live" ? "live" : "test";
}

function ModeGuard({ children }: { children: ReactNode }) {
  const { mode } = useParams();
  if (mode !== "test" && mode !== "live") return <NotFound />;
  return <>{children}</>;
}

function ModeRedirect() {
  const { mode } = useParams();
  if (mode !== "test" && mode !== "live") return <NotFound />;
  return <Navigate to={`/${mode}/projects`} replace />;
}

export function createRouter() {
  return createBrowserRouter(
    [
      {
        element: <Layout />,
        children: [
          { index: true, element: <Navigate to="/test/projects" replace /> },
          { path: "callback", element: <Navigate to="/test/projects" replace /> },
          { path: "account", element: <AccountPage /> },
          { path: "operators", element: <OperatorsPage /> },
          { path: ":mode", element: <ModeRedirect /> },
          { path: ":mode/projects", element: <ModeGuard><ProjectsPage /></ModeGuard> },
          { path: ":mode/overview", element: <ModeGuard><Deferred><TotalsPage /></Deferred></ModeGuard> },
          {
            path: ":mode/projects/:id",
            element: <ModeGuard><ProjectLayout /></ModeGuard>,
            children: [
              { index: true, element: <Navigate to="dashboard" replace /> },
              { path: "dashboard", element: <Deferred><DashboardPage /></Deferred> },
              { path: "customers", element: <CustomersPage /> },
              { path: "customers/:customerId", element: <CustomerDetailPage /> },
              { path: "keys", element: <KeysPage /> },
              { path: "catalog", element: <CatalogPage /> },
              { path: "webhooks", element: <WebhooksPage /> },
              { path: "audit", element: <AuditPage /> },
              { path: "settings", element: <SettingsPage /> },
            ],
          },
          { path: "*", element: <NotFound /> },
        ],
      },
    ],
    { basename: "/console" },
  );
}
