//! The console's runtime configuration (`/console/config.json`, served by the platform
//! worker) and the one place that decides which base URL each API route goes to.

export type Worker = "platform" | "catalog" | "webhooks" | "api";
export type Environment = "development" | "staging" | "production";

export interface ConsoleConfig {
  issuer: string;
  clientId: string;
  audience: string;
  scope: string;
  redirectPath: string;
  environment: Environment;
  urls: Record<Worker, string>;
}

const WORKERS: readonly Worker[] = ["platform", "catalog", "webhooks", "api"];

/** Parses config.json, refusing anything without every field: a half config fails loudly. */
export function parseConfig(raw: unknown): ConsoleConfig {
  if (typeof raw !== "object" || raw === null) throw new Error("config.json is not an object");
  const r = raw as Record<string, unknown>;
  const text = (key: string): string => {
    const v = r[key];
    if (typeof v !== "string" || v === "") throw new Error(`config.json: ${key} is missing`);
    return v;
  };
  const urls = r.urls as Record<string, unknown> | undefined;
  if (typeof urls !== "object" || urls === null) throw new Error("config.json: urls is missing");
  const parsedUrls = {} as Record<Worker, string>;
  for (const w of WORKERS) {
    const v = urls[w];
    if (typeof v !== "string" || !/^https?:\/\//.test(v)) throw new Error(`config.json: urls.${w} is missing`);
    parsedUrls[w] = v.replace(/\/+$/, "");
  }
  const environment = text("environment");
  if (!["development", "staging", "production"].includes(environment)) throw new Error("config.json: unknown environment");
  return {
    issuer: text("issuer"),
    clientId: text("clientId"),
    audience: typeof r.audience === "string" ? r.audience : "",
    scope: typeof r.scope === "string" && r.scope ? r.scope : "openid",
    redirectPath: text("redirectPath"),
    environment: environment as Environment,
    urls: parsedUrls,
  };
}

/**
 * Which worker serves a route. Today each worker has its own origin; when they share one
 * (issue 17) only this function changes.
 */
export function baseUrl(config: ConsoleConfig, worker: Worker): string {
  return config.urls[worker];
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const res = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: "no-store" });
  if (!res.ok) throw new Error(`config.json answered ${res.status}`);
  return parseConfig(await res.json());
}
