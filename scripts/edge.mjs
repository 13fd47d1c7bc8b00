// What Cloudflare's edge does, locally, for a Worker's outbound request it cannot complete.
//
// In production a subrequest to a host that cannot be reached does not throw: the edge
// answers in the host's place — 530 with error 1016 when the name does not resolve, 521 when
// the connection is refused, 522 when it times out, 525 when the TLS handshake fails, 526 for
// a certificate it cannot trust, 520 when the connection breaks. workerd, which runs the
// workers locally, throws an opaque "internal error" instead, and prints its own stack trace.
// The local stack sends the webhooks worker's outbound requests through `edgeFetch`, so a
// delivery's failure is seen, classified and shown locally as it is in production.

import { Response } from "miniflare";

/** Longer than a delivery attempt's own 10 s timeout, which normally answers first. */
const TIMEOUT_MS = 30_000;

/**
 * The edge's status and body for a failed fetch (`error`: what Node's fetch threw), from
 * its cause's code: the edge's own numbering, so the worker reads it as production's.
 */
export function edgeAnswer(error) {
  const cause = error?.cause ?? error;
  const code = String(cause?.code ?? "");
  const name = String(error?.name ?? "");
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return [530, "error code: 1016"];
  if (code === "ECONNREFUSED") return [521, "error code: 521"];
  if (name === "TimeoutError" || code === "ETIMEDOUT" || code.startsWith("UND_ERR_CONNECT_TIMEOUT") || code === "UND_ERR_HEADERS_TIMEOUT") return [522, "error code: 522"];
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|HOSTNAME/.test(code)) return [526, "error code: 526"];
  if (/SSL|TLS|EPROTO/.test(code) || /ssl|tls/i.test(String(cause?.message ?? ""))) return [525, "error code: 525"];
  return [520, "error code: 520"];
}

/** Statuses whose answers carry no body. */
const NO_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Makes `request` from Node, redirects left to the caller (as the worker asks), and answers
 * what came back — or, when nothing could, what the edge would have answered.
 */
export async function edgeFetch(request) {
  const method = request.method;
  const body = method === "GET" || method === "HEAD" ? undefined : await request.arrayBuffer();
  let res;
  try {
    res = await fetch(request.url, { method, headers: request.headers, body, redirect: "manual", signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const [status, text] = edgeAnswer(error);
    return new Response(text, { status, headers: { "Content-Type": "text/plain", Server: "cloudflare" } });
  }
  const headers = new Headers(res.headers);
  // Node's fetch has decoded the body already.
  headers.delete("content-encoding");
  headers.delete("content-length");
  const bytes = await res.arrayBuffer().catch(() => new ArrayBuffer(0));
  return new Response(NO_BODY.has(res.status) ? null : bytes, { status: res.status, statusText: res.statusText, headers });
}
