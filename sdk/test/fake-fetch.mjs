// A scripted stand-in for fetch: answers each request with the next step and records what was sent.

/** A JSON answer step. */
export const json = (status, body, headers = {}) => ({ status, body, headers });
/** A step that fails like a dropped connection. */
export const drop = () => ({ drop: true });
/** A step that never answers (until aborted). */
export const hang = () => ({ hang: true });

export function fakeFetch(steps) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    calls.push({ url: String(url), method: init.method ?? "GET", headers, body: init.body === undefined ? undefined : JSON.parse(init.body), at: Date.now() });
    const step = steps.shift() ?? json(500, { error: "no more steps", code: "internal_error", requestId: "req_x" });
    if (step.drop) throw new TypeError("fetch failed");
    if (step.hang) {
      return new Promise((_, reject) => {
        init.signal?.addEventListener("abort", () => reject(init.signal.reason ?? new DOMException("aborted", "AbortError")), { once: true });
      });
    }
    const text = typeof step.body === "string" ? step.body : JSON.stringify(step.body);
    return new Response(step.status === 204 ? null : text, {
      status: step.status,
      headers: { "Content-Type": "application/json", "X-Request-Id": "req_fake", ...step.headers },
    });
  };
  return { fetch, calls };
}

export const usage = { count: 1, usageCount: 1, limit: 10, remaining: 9, plan: "free", periodStart: "2026-12-01T00:00:00Z", periodEnd: "2027-01-01T00:00:00Z" };
export const tracked = { allowed: true, success: true, data: { message: "Usage tracked" }, usage };
