// The JavaScript shell around every Rust worker. It turns anything the Rust side throws into
// the contract's opaque 500 `{ error, code, requestId }` and logs the cause under the
// request id, and it gives every answer the headers all of them carry.
//
// Panics need more than a try/catch: on wasm32 a panic is a trap that unwinds nothing, and in
// an async handler it fires inside a microtask, leaving the request's promise pending for
// ever. The Rust panic hook (crates/edge/src/panic.rs) calls `__tollgateOnPanic` first; a
// trapped instance can finish none of its requests, so every request in flight here fails
// with the 500. The Rust entrypoint is constructed per request through worker-build's proxy,
// so the next request runs on a freshly instantiated module.

// Mirrors tollgate::RequestId::parse: a well-formed caller id is echoed, others replaced.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const MESSAGE = "Something went wrong on our side. Quote the request id if you contact support.";

const inFlight = new Set();

globalThis.__tollgateOnPanic = (message) => {
  const panic = new Error(`Rust panic: ${message}`);
  for (const fail of inFlight) fail(panic);
  inFlight.clear();
};

function opaqueFailure(request, err) {
  const incoming = request.headers.get("X-Request-Id");
  const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : `req_${crypto.randomUUID().replaceAll("-", "")}`;
  console.error(JSON.stringify({ level: "error", event: "uncaught", requestId, cause: String(err?.stack ?? err) }));
  return Response.json(
    { error: MESSAGE, code: "internal_error", requestId },
    {
      status: 500,
      headers: { "X-Request-Id": requestId, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" },
    },
  );
}

/**
 * Runs `invoke` until it settles or the instance panics, whichever comes first: a panic
 * rejects every invocation in flight on this instance.
 */
async function guarded(invoke) {
  let fail;
  const panicked = new Promise((_, reject) => {
    fail = reject;
  });
  inFlight.add(fail);
  try {
    return await Promise.race([invoke(), panicked]);
  } finally {
    inFlight.delete(fail);
  }
}

/** Logs a failed background invocation (no request, so no request id of the caller's). */
function logBackground(kind, err) {
  const requestId = `req_${crypto.randomUUID().replaceAll("-", "")}`;
  console.error(JSON.stringify({ level: "error", event: "uncaught", kind, requestId, cause: String(err?.stack ?? err) }));
}

/**
 * The headers every answer carries unless its handler chose otherwise: no content sniffing,
 * and no caching. Set here rather than in Rust because each header Rust sets is a crossing
 * into JavaScript, several microseconds a request (docs/benchmarks.md). An answer passed
 * through from another Tollgate worker (the gateway's) already has both.
 */
function secured(response) {
  const headers = response.headers;
  if (!headers.has("X-Content-Type-Options")) headers.set("X-Content-Type-Options", "nosniff");
  if (!headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
  return response;
}

export function shell(RustWorker) {
  return {
    async fetch(request, env, ctx) {
      try {
        return secured(await guarded(() => new RustWorker(ctx, env).fetch(request)));
      } catch (err) {
        return opaqueFailure(request, err);
      }
    },
    // Queue batches and cron triggers reach the Rust build the same way. A failure is logged
    // and rethrown, so the runtime retries the batch instead of acknowledging it.
    async queue(batch, env, ctx) {
      try {
        await guarded(() => new RustWorker(ctx, env).queue(batch));
      } catch (err) {
        logBackground("queue", err);
        throw err;
      }
    },
    async scheduled(controller, env, ctx) {
      try {
        await guarded(() => new RustWorker(ctx, env).scheduled(controller));
      } catch (err) {
        logBackground("scheduled", err);
        throw err;
      }
    },
  };
}
