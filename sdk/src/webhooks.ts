//! Verifying Tollgate's outbound webhook deliveries (Standard Webhooks), with WebCrypto so it runs in Node ≥ 20, browsers and Workers.

import type { components } from "./openapi.js";

type Schemas = components["schemas"];

/** The data of each event type (docs/api.md, "Outbound webhooks"). */
export interface WebhookEventData {
  "customer.created": Schemas["Customer"];
  "subscription.updated": Schemas["WebhookSubscriptionData"];
  "usage.threshold_reached": Schemas["WebhookUsageThresholdData"];
  "order.completed": Schemas["WebhookOrderData"];
  "order.needs_attention": Schemas["WebhookOrderAttentionData"];
  "entitlement.changed": Schemas["WebhookEntitlementData"];
  "order.refunded": Schemas["WebhookOrderRefundData"];
}
export type WebhookEventType = keyof WebhookEventData;

/** A delivery's body, narrowed by `type`: `if (event.type === "order.completed") event.data.items`. */
export type WebhookEvent = {
  [T in WebhookEventType]: {
    id: string;
    type: T;
    /** Unix ms. */
    createdAt: number;
    projectId: string;
    mode: "test" | "live";
    data: WebhookEventData[T];
  };
}[WebhookEventType];

/** Why a delivery was refused; `reason` is stable, the message is for logs. */
export class WebhookVerificationError extends Error {
  constructor(
    readonly reason: "missing_headers" | "invalid_timestamp" | "timestamp_out_of_tolerance" | "no_matching_signature" | "invalid_body",
    message: string,
  ) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** The request headers, as a `Headers` (fetch, Workers) or a plain object (Node's `req.headers`). */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

export interface WebhookOptions {
  /** How far the timestamp may be from now, either way, in seconds (default 300). */
  toleranceSeconds?: number;
}

const encoder = new TextEncoder();

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value.join(" ") : value;
}

function base64ToBytes(text: string): Uint8Array | undefined {
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return undefined;
  }
}

/** Equal bytes, in time that depends only on the lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * A verifier for one endpoint's signing secrets. Give it every secret that may be signing —
 * during a rotation's grace period the old and the new — and each delivery passes when any
 * `v1` signature in `webhook-signature` matches any of them.
 *
 * @example
 * const webhook = new Webhook(process.env.TOLLGATE_WEBHOOK_SECRET!);
 * const event = await webhook.verify(rawBody, request.headers); // throws WebhookVerificationError
 * if (event.type === "order.completed") ship(event.data.items);
 */
export class Webhook {
  private readonly keys: Promise<CryptoKey[]>;
  private readonly tolerance: number;

  /** Takes one or more `whsec_…` secrets; throws `TypeError` when one is not base64. */
  constructor(secrets: string | readonly string[], options: WebhookOptions = {}) {
    const list = typeof secrets === "string" ? [secrets] : [...secrets];
    if (list.length === 0) throw new TypeError("at least one signing secret is required");
    const raw = list.map((secret) => {
      const bytes = base64ToBytes(secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret);
      if (!bytes || bytes.length === 0) throw new TypeError("a signing secret is not whsec_ followed by base64");
      return bytes;
    });
    this.tolerance = options.toleranceSeconds ?? 300;
    this.keys = Promise.all(
      raw.map((bytes) => globalThis.crypto.subtle.importKey("raw", bytes as BufferSource, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])),
    );
  }

  /**
   * Checks a delivery's signature and timestamp over the raw body, exactly as received
   * (verify before parsing JSON), and answers the typed event.
   *
   * @param body the raw request body (string or bytes)
   * @param headers the request's headers
   * @param now the current time in ms (for tests)
   * @throws WebhookVerificationError when the headers are missing, the timestamp is outside the tolerance, or no signature matches
   */
  async verify(body: string | Uint8Array, headers: HeaderSource, now: number = Date.now()): Promise<WebhookEvent> {
    const id = header(headers, "webhook-id");
    const timestamp = header(headers, "webhook-timestamp");
    const signatures = header(headers, "webhook-signature");
    if (!id || !timestamp || !signatures) {
      throw new WebhookVerificationError("missing_headers", "webhook-id, webhook-timestamp and webhook-signature are required");
    }
    if (!/^\d{1,15}$/.test(timestamp)) throw new WebhookVerificationError("invalid_timestamp", "webhook-timestamp is not Unix seconds");
    if (Math.abs(now / 1000 - Number(timestamp)) > this.tolerance) {
      throw new WebhookVerificationError("timestamp_out_of_tolerance", "webhook-timestamp is too far from now (a replay, or a skewed clock)");
    }
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    const prefix = encoder.encode(`${id}.${timestamp}.`);
    const signed = new Uint8Array(prefix.length + bytes.length);
    signed.set(prefix);
    signed.set(bytes, prefix.length);
    const given = signatures
      .split(" ")
      .map((entry) => entry.split(","))
      .filter(([version]) => version === "v1")
      .map(([, signature]) => base64ToBytes(signature ?? ""))
      .filter((s): s is Uint8Array => s !== undefined);
    let match = false;
    for (const key of await this.keys) {
      const expected = new Uint8Array(await globalThis.crypto.subtle.sign("HMAC", key, signed));
      // Every pair is compared, so the time taken does not say which one matched.
      for (const signature of given) match = constantTimeEqual(signature, expected) || match;
    }
    if (!match) throw new WebhookVerificationError("no_matching_signature", "no webhook-signature matches a signing secret");
    try {
      return JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body)) as WebhookEvent;
    } catch {
      throw new WebhookVerificationError("invalid_body", "the signed body is not JSON");
    }
  }
}
