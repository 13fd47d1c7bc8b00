//! Shared reads (query keys in one place, so writes invalidate the right ones).
import { useQuery } from "@tanstack/react-query";
import { useApp } from "./app";
import { ok } from "./api/client";
import type { components } from "./api/schema";

export type Project = components["schemas"]["Project"];
export type Key = components["schemas"]["Key"];

/** A list answer. The contract writes lists as ListEnvelope plus the item type (allOf), which the generator reads as unknown items. */
export interface Page<T> {
  data: T[];
  total: number;
  page: number;
  pageSize: number;
}
export function asPage<T>(res: { data: unknown[]; total: number; page: number; pageSize: number }): Page<T> {
  return res as Page<T>;
}

export const keys = {
  projects: ["projects"] as const,
  project: (id: string) => ["project", id] as const,
  projectScoped: (id: string, what: string) => ["project", id, what] as const,
  connections: ["stripe-connections"] as const,
  platform: ["platform"] as const,
};

export function useProjects() {
  const { api } = useApp();
  return useQuery({
    queryKey: keys.projects,
    queryFn: () => ok(api.platform.GET("/v1/projects", { params: { query: { pageSize: 100 } } })).then((r) => asPage<Project>(r)),
  });
}

export function useProject(id: string) {
  const { api } = useApp();
  return useQuery({
    queryKey: keys.project(id),
    queryFn: () => ok(api.platform.GET("/v1/projects/{id}", { params: { path: { id } } })).then((r) => r.data),
  });
}

export function useConnections() {
  const { api } = useApp();
  return useQuery({
    queryKey: keys.connections,
    queryFn: () => ok(api.catalog.GET("/v1/stripe/connections")).then((r) => r.data),
  });
}

/** Whether the signed-in developer is an operator: the admin lane answers 403 otherwise. */
export function useIsOperator(): boolean {
  const { api } = useApp();
  const q = useQuery({
    queryKey: ["admin", "probe"],
    queryFn: () => ok(api.platform.GET("/v1/admin/metrics")),
    retry: false,
    staleTime: Infinity,
  });
  return q.isSuccess;
}
