//! API errors as the console shows them: the server's safe message, its code and requestId.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;
  readonly fieldErrors: Record<string, string[]>;

  constructor(status: number, code: string, message: string, requestId: string | null, fieldErrors: Record<string, string[]> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.fieldErrors = fieldErrors;
  }
}

/** Reads the contract's Error shape; anything else becomes a generic error with the status. */
export function apiErrorFrom(status: number, body: unknown, headerRequestId: string | null): ApiError {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const fieldErrors: Record<string, string[]> = {};
  if (typeof b.fieldErrors === "object" && b.fieldErrors !== null) {
    for (const [k, v] of Object.entries(b.fieldErrors as Record<string, unknown>)) {
      fieldErrors[k] = Array.isArray(v) ? v.map(String) : [String(v)];
    }
  }
  return new ApiError(
    status,
    typeof b.code === "string" ? b.code : `http_${status}`,
    typeof b.error === "string" ? b.error : `The server answered ${status}.`,
    typeof b.requestId === "string" ? b.requestId : headerRequestId,
    fieldErrors,
  );
}

/** What a failure means to the person: stale edits get the one sentence that tells them what to do. */
export function describeError(err: unknown): { message: string; code: string | null; requestId: string | null; fieldErrors: Record<string, string[]> } {
  if (err instanceof ApiError) {
    const message = err.code === "stale_update" ? "This changed elsewhere since you loaded it. Reload to see the latest, then edit again." : err.message;
    return { message, code: err.code, requestId: err.requestId, fieldErrors: err.fieldErrors };
  }
  return { message: err instanceof Error ? err.message : String(err), code: null, requestId: null, fieldErrors: {} };
}
