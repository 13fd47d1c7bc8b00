//! The HTTP layer every client shares: idempotency keys on writes, retries with backoff and jitter, timeouts.

import { ConnectionError, TimeoutError, TollgateError, errorFromResponse } from "./errors.js";

/** Options every client takes. */
export interface TransportOptions {
  /** The one base URL, e.g. `http://127.0.0.1:8787` or your custom domain. */
  baseUrl: string;
  /** Per attempt, in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 2). 0 turns retrying off. */
  maxRetries?: number;
  /** A `fetch` to use instead of the global one (tests, instrumentation, older runtimes). */
  fetch?: typeof fetch;
}

/** Options of a single call. */
export interface RequestOptions {
  /** The key for this write; generated when left out, and reused by every retry. */
  idempotencyKey?: string;
  /** Aborts the call (and its retries). */
  signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for this call. */
  timeoutMs?: number;
}

/** How a route may be repeated after a failure. */
export type Replay =
  /** Repeating it is harmless: reads, writes Tollgate deduplicates by `Idempotency-Key`, writes that converge. */
  | "safe"
  /** A repeat may do the work twice: retried only when the server said it did nothing (429, 503, 409 in flight). */
  | "unsafe";

export interface Call {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | undefined> | undefined;
  body?: unknown;
  headers?: Record<string, string | undefined>;
  replay?: Replay;
  options?: RequestOptions | undefined;
  /** Answer the raw Response (event streams) instead of parsed JSON. */
  raw?: boolean;
}

/** The longest `Retry-After` the SDK waits out by itself; longer ones are thrown at once. */
export const MAX_RETRY_AFTER_SECONDS = 60;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 8_000;

/** A fresh idempotency key: 128 random bits, URL-safe. */
export function newIdempotencyKey(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return `idk_${hex}`;
}

/**
 * The wait before retry number `attempt` (0-based): exponential from 250 ms, capped at 8 s,
 * with "equal jitter" (half fixed, half random) so clients that failed together spread out.
 * A `Retry-After` the server sent wins.
 */
export function backoffDelay(attempt: number, retryAfterSeconds?: number, random: () => number = Math.random): number {
  if (retryAfterSeconds !== undefined) return Math.ceil(retryAfterSeconds * 1000);
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Whether a failure may be tried again under the route's replay rule. */
export function retryable(error: TollgateError, replay: Replay): boolean {
  if (error.code === "usage_limit_reached") return false; // the period has to end first
  if (error.retryAfter !== undefined && error.retryAfter > MAX_RETRY_AFTER_SECONDS) return false;
  const nothingDone =
    error.status === 429 || error.status === 503 || (error.status === 409 && error.code === "idempotency_in_flight");
  if (nothingDone) return true;
  if (replay === "unsafe") return false;
  return error instanceof ConnectionError || error.status >= 500;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Sends calls for one client; `authHeaders` is asked before every attempt (tokens may refresh). */
export class Transport {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly fetchImpl: typeof fetch;
  /** Replaced by tests to make backoff deterministic. */
  random: () => number = Math.random;

  constructor(
    options: TransportOptions,
    private readonly authHeaders: () => Promise<Record<string, string>> | Record<string, string>,
  ) {
    if (!options.baseUrl) throw new TypeError("baseUrl is required");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 2;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("no fetch: pass options.fetch");
    this.fetchImpl = f.bind(globalThis);
  }

  /** The absolute URL of a path on the base URL. */
  url(path: string, query?: Call["query"]): string {
    let url = this.baseUrl + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
      const text = params.toString();
      if (text) url += `?${text}`;
    }
    return url;
  }

  /** Sends `call`, retrying as its replay rule allows; answers the parsed JSON body. */
  async request<T>(call: Call): Promise<T> {
    const response = await this.send({ ...call, raw: true });
    return (await readJson(response)) as T;
  }

  /** Like `request`, but answers the successful Response itself (the body unread). */
  async send(call: Call): Promise<Response> {
    const write = call.method !== "GET";
    const key = call.options?.idempotencyKey ?? (write ? newIdempotencyKey() : undefined);
    const replay = call.replay ?? "safe";
    const signal = call.options?.signal;
    for (let attempt = 0; ; attempt++) {
      let error: TollgateError;
      try {
        const response = await this.attempt(call, key, signal);
        if (response.ok) return response;
        error = errorFromResponse(response.status, response.headers, await readJson(response).catch(() => undefined));
      } catch (caught) {
        if (signal?.aborted) throw signal.reason ?? caught;
        if (!(caught instanceof TollgateError)) throw caught;
        error = caught;
      }
      if (attempt >= this.maxRetries || !retryable(error, replay)) throw error;
      await sleep(backoffDelay(attempt, error.retryAfter, this.random), signal);
    }
  }

  private async attempt(call: Call, key: string | undefined, signal: AbortSignal | undefined): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json", ...(await this.authHeaders()) };
    for (const [k, v] of Object.entries(call.headers ?? {})) if (v !== undefined) headers[k] = v;
    if (key !== undefined) headers["Idempotency-Key"] = key;
    let body: string | undefined;
    if (call.body !== undefined) {
      body = JSON.stringify(call.body);
      headers["Content-Type"] = "application/json";
    }
    const controller = new AbortController();
    const timeoutMs = call.options?.timeoutMs ?? this.timeoutMs;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const forward = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", forward, { once: true });
    try {
      return await this.fetchImpl(this.url(call.path, call.query), { method: call.method, headers, body, signal: controller.signal });
    } catch (cause) {
      if (signal?.aborted) throw signal.reason ?? cause;
      if (timedOut) throw new TimeoutError({ status: 0, code: "timeout", message: `No answer within ${timeoutMs} ms`, cause });
      throw new ConnectionError({ status: 0, code: "connection_failed", message: "Could not reach Tollgate", cause });
    } finally {
      // An event stream outlives the headers: the timeout covers getting an answer, not reading it.
      clearTimeout(timer);
      signal?.removeEventListener("abort", forward);
    }
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new TollgateError({
      status: response.status,
      code: "unexpected_response",
      message: `Tollgate answered ${response.status} with a body that is not JSON`,
      requestId: response.headers.get("x-request-id") ?? undefined,
    });
  }
}
