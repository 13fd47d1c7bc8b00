//! The one error type every call throws, and the subclasses integrators branch on by `instanceof`.

import type { components } from "./openapi.js";

/** A stable error code from the contract's `ErrorCode` enum. */
export type ErrorCode = components["schemas"]["ErrorCode"];
type Usage = components["schemas"]["Usage"];

/** What the server answered for an error, as far as the SDK could read it. */
export interface ErrorDetails {
  status: number;
  code: ErrorCode | "connection_failed" | "timeout" | "unexpected_response";
  message: string;
  fieldErrors?: Record<string, string[]> | undefined;
  requestId?: string | undefined;
  retryAfter?: number | undefined;
  body?: unknown;
  cause?: unknown;
}

/**
 * Every failure of a Tollgate call. `status` is the HTTP status (0 when no answer came),
 * `code` the contract's stable code (branch on it, or on the subclass, never on `message`),
 * `fieldErrors` the invalid fields of a 422, `requestId` the id to quote to support.
 */
export class TollgateError extends Error {
  readonly status: number;
  readonly code: ErrorDetails["code"];
  readonly fieldErrors: Record<string, string[]>;
  readonly requestId: string | undefined;
  /** Seconds the server asked to wait (`Retry-After`), when it said. */
  readonly retryAfter: number | undefined;
  /** The parsed error body, for fields a subclass does not lift out. */
  readonly body: unknown;

  constructor(details: ErrorDetails) {
    super(details.message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.status = details.status;
    this.code = details.code;
    this.fieldErrors = details.fieldErrors ?? {};
    this.requestId = details.requestId;
    this.retryAfter = details.retryAfter;
    this.body = details.body;
  }
}

/** No answer arrived: DNS, refused connection, reset, or a CORS refusal in a browser. */
export class ConnectionError extends TollgateError {}
/** No answer within `timeoutMs`. */
export class TimeoutError extends ConnectionError {}
/** 401: a missing or refused credential. */
export class AuthenticationError extends TollgateError {}
/** 401 `invalid_api_key`: the key is malformed, unknown, revoked or past its grace period. */
export class InvalidApiKeyError extends AuthenticationError {}
/** 401 `invalid_end_user_token`: mint a new end-user token. */
export class InvalidEndUserTokenError extends AuthenticationError {}
/** 403: a valid credential on the wrong lane, or an origin that may not call. */
export class PermissionDeniedError extends TollgateError {}
/** 403 `reauthentication_required`: the developer must sign in again (fresh writes). */
export class ReauthenticationRequiredError extends PermissionDeniedError {}
/** 403 `entitlement_required`: nothing the end user holds covers the file. */
export class EntitlementRequiredError extends PermissionDeniedError {}
/** 404: no such resource in this project (another tenant's ids answer this too). */
export class NotFoundError extends TollgateError {}
/** 409 and 422 idempotency failures: the key is in flight, reused with another body, or malformed. */
export class IdempotencyError extends TollgateError {}
/** 422 `validation_failed`: `fieldErrors` lists every invalid field. */
export class ValidationError extends TollgateError {}
/** 409 `plan_not_configured`: the project has no tier for this end user; give it a default tier. */
export class PlanNotConfiguredError extends TollgateError {}
/** 409 `sold_out`: `fieldErrors.items` names the products that cannot be supplied. */
export class SoldOutError extends TollgateError {}
/** 402 `payment_failed`: the card was declined. */
export class PaymentFailedError extends TollgateError {}
/** 428 `stripe_connection_required`: connect a Stripe account for the project's mode first. */
export class StripeConnectionRequiredError extends TollgateError {}
/** 429 `rate_limited` and `too_many_auth_failures`: wait `retryAfter` seconds. */
export class RateLimitError extends TollgateError {}

/** 429 `usage_limit_reached`: the end user's allowance for this period is used up. */
export class UsageLimitError extends TollgateError {
  /** The usage at the limit (count, limit, remaining 0, plan, period). */
  readonly usage: Usage | undefined;
  constructor(details: ErrorDetails) {
    super(details);
    const body = details.body as { usage?: Usage } | undefined;
    this.usage = body?.usage;
  }
}

/** 5xx: a failure inside Tollgate or its payment provider; retried before it reaches you. */
export class ServerError extends TollgateError {}

type ErrorClass = new (details: ErrorDetails) => TollgateError;

const BY_CODE: Partial<Record<string, ErrorClass>> = {
  invalid_api_key: InvalidApiKeyError,
  invalid_end_user_token: InvalidEndUserTokenError,
  reauthentication_required: ReauthenticationRequiredError,
  entitlement_required: EntitlementRequiredError,
  idempotency_in_flight: IdempotencyError,
  idempotency_key_reused: IdempotencyError,
  invalid_idempotency_key: IdempotencyError,
  validation_failed: ValidationError,
  plan_not_configured: PlanNotConfiguredError,
  sold_out: SoldOutError,
  payment_failed: PaymentFailedError,
  stripe_connection_required: StripeConnectionRequiredError,
  usage_limit_reached: UsageLimitError,
  rate_limited: RateLimitError,
  too_many_auth_failures: RateLimitError,
};

const BY_STATUS: Partial<Record<number, ErrorClass>> = {
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  429: RateLimitError,
};

/** Seconds from a `Retry-After` header (delta seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

/** The typed error for an answer that was not 2xx. */
export function errorFromResponse(status: number, headers: Headers, body: unknown): TollgateError {
  const shaped = (body && typeof body === "object" ? body : {}) as {
    error?: unknown;
    code?: unknown;
    fieldErrors?: unknown;
    requestId?: unknown;
  };
  const code = typeof shaped.code === "string" ? (shaped.code as ErrorCode) : "unexpected_response";
  const details: ErrorDetails = {
    status,
    code,
    message: typeof shaped.error === "string" ? shaped.error : `Tollgate answered ${status}`,
    fieldErrors: shaped.fieldErrors && typeof shaped.fieldErrors === "object" ? (shaped.fieldErrors as Record<string, string[]>) : undefined,
    requestId: typeof shaped.requestId === "string" ? shaped.requestId : (headers.get("x-request-id") ?? undefined),
    retryAfter: parseRetryAfter(headers.get("retry-after")),
    body,
  };
  const Class = BY_CODE[code] ?? BY_STATUS[status] ?? (status >= 500 ? ServerError : TollgateError);
  return new Class(details);
}
