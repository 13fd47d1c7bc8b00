//! The typed client: one openapi-fetch client per worker over the types generated from
//! schemas/openapi.yaml, the developer's token on every call, errors as ApiError.
import createClient, { type Client } from "openapi-fetch";
import type { paths } from "./schema";
import { baseUrl, type ConsoleConfig, type Worker } from "../config";
import { getSession, setSession } from "../auth/session";
import { ApiError, apiErrorFrom } from "./errors";

export type Api = Record<Worker, Client<paths>>;

export function createApi(config: ConsoleConfig): Api {
  const make = (worker: Worker) => {
    const client = createClient<paths>({ baseUrl: baseUrl(config, worker) });
    client.use({
      onRequest({ request }) {
        const session = getSession();
        if (session) request.headers.set("Authorization", `Bearer ${session.accessToken}`);
        return request;
      },
    });
    return client;
  };
  return { platform: make("platform"), catalog: make("catalog"), webhooks: make("webhooks"), api: make("api") };
}

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Awaits a client call: the body on success, an ApiError otherwise (network failures too). */
export async function ok<T>(pending: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await pending;
  } catch (err) {
    throw new ApiError(0, "network_error", `Tollgate could not be reached (${err instanceof Error ? err.message : String(err)}).`, null);
  }
  const { data, error, response } = result;
  if (response.ok && error === undefined) return data as T;
  const failure = apiErrorFrom(response.status, error, response.headers.get("X-Request-Id"));
  // An expired or refused sign-in: back to the sign-in page rather than a page of errors.
  if (failure.status === 401 && failure.code === "invalid_token") setSession(null);
  throw failure;
}

/** A fresh Idempotency-Key for one attempt of a write. */
export function idempotencyKey(): string {
  return `console-${crypto.randomUUID()}`;
}
