//! Following a checkout to its end: the session's event stream, read with fetch (headers included), with the status route as fallback.

import { TollgateError } from "./errors.js";
import type { Transport } from "./transport.js";
import { FINAL_CHECKOUT_STATES, type CheckoutState, type CheckoutStatus } from "./types.js";

/** Options for following a checkout. */
export interface FollowOptions {
  /** Called with every status the stream or the status route reports, `open` included. */
  onStatus?: (status: CheckoutState) => void;
  /** Stops following (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Gives up after this long (default 30 minutes, a session's life). */
  timeoutMs?: number;
  /** The guest cart's `sessionSecret` (publishable key without an end user). */
  checkoutSecret?: string;
}

/** The `status` events in a chunk of `text/event-stream`, given what was left over from the previous chunk. */
export function parseEvents(buffer: string): { events: { event: string; data: string }[]; rest: string } {
  const events: { event: string; data: string }[] = [];
  const blocks = buffer.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":") || line === "") continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) events.push({ event, data: data.join("\n") });
  }
  return { events, rest };
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/**
 * Listens to `GET /api/checkout/{id}/events` until the session is final (complete, expired or
 * failed), reconnecting after a stream that ended without news and while a delayed payment is
 * pending; then answers the full status from `GET /api/checkout/{id}`. EventSource cannot send
 * the key headers, so the stream is read with fetch.
 */
export async function followCheckout(transport: Transport, sessionId: string, options: FollowOptions = {}): Promise<CheckoutStatus> {
  const controller = new AbortController();
  const outer = options.signal;
  const stop = () => controller.abort(outer?.reason);
  outer?.addEventListener("abort", stop, { once: true });
  const timer = setTimeout(
    () => controller.abort(new TollgateError({ status: 0, code: "timeout", message: "The checkout did not finish in time" })),
    options.timeoutMs ?? 30 * 60_000,
  );
  const signal = controller.signal;
  const headers = options.checkoutSecret ? { "X-Checkout-Secret": options.checkoutSecret } : {};
  const path = `/api/checkout/${encodeURIComponent(sessionId)}`;
  const status = () => transport.request<CheckoutStatus>({ method: "GET", path, headers, options: { signal } });
  try {
    for (let round = 0; ; round++) {
      let last: CheckoutState | undefined;
      try {
        const response = await transport.send({ method: "GET", path: `${path}/events`, headers: { ...headers, Accept: "text/event-stream" }, options: { signal, timeoutMs: 30_000 } });
        const reader = response.body?.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        while (reader) {
          const { done, value } = await reader.read();
          if (done) break;
          const parsed = parseEvents(buffer + decoder.decode(value, { stream: true }));
          buffer = parsed.rest;
          for (const { event, data } of parsed.events) {
            if (event !== "status") continue;
            last = (JSON.parse(data) as { status: CheckoutState }).status;
            options.onStatus?.(last);
          }
          if (last && FINAL_CHECKOUT_STATES.includes(last)) {
            await reader.cancel().catch(() => {});
            break;
          }
        }
      } catch (error) {
        if (signal.aborted) throw signal.reason ?? error;
        // 429 stream_limit_reached or a dropped stream: the status route still answers.
        if (!(error instanceof TollgateError) || (error.status !== 0 && error.status !== 429 && error.status < 500)) throw error;
      }
      const now = await status();
      if (now.status !== last) options.onStatus?.(now.status);
      if (FINAL_CHECKOUT_STATES.includes(now.status)) return now;
      await sleep(Math.min(5_000, 500 * 2 ** Math.min(round, 4)), signal);
    }
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", stop);
  }
}
