// The JavaScript shell around every Rust worker. It turns anything the Rust side throws into
// the contract's opaque 500 `{ error, code, requestId }` and logs the cause under the
// request id.
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

export function shell(RustWorker) {
  return {
    async fetch(request, env, ctx) {
      let fail;
      const panicked = new Promise((_, reject) => {
        fail = reject;
      });
      inFlight.add(fail);
      try {
        return await Promise.race([new RustWorker(ctx, env).fetch(request), panicked]);
      } catch (err) {
        return opaqueFailure(request, err);
      } finally {
        inFlight.delete(fail);
      }
    },
  };
}
