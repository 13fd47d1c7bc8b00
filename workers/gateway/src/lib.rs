//! The `gateway` worker: Tollgate's one public origin. Each request goes, untouched, to the
//! worker that serves its path (`tollgate::gateway::upstream`) over a service binding, and
//! that worker's answer comes back as it was: the gateway adds, removes and rewrites
//! nothing. It answers only `GET /health` itself, and 404 for the workers' internal routes.

use serde_json::json;
use tollgate::RequestId;
use tollgate::gateway::upstream;
use worker::{Context, Env, Request, Response, event};

fn answer(status: u16, body: &str, request_id: &str) -> worker::Result<Response> {
    let response = Response::ok(body)?.with_status(status);
    let headers = response.headers();
    headers.set("Content-Type", "application/json")?;
    headers.set("X-Request-Id", request_id)?;
    headers.set("Cache-Control", "no-store")?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    Ok(response)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let path = req.path();
    if path == "/health" {
        let id = RequestId::from_incoming(req.headers().get("X-Request-Id")?.as_deref());
        let body =
            json!({ "status": "ok", "worker": "gateway", "version": env!("CARGO_PKG_VERSION") });
        return answer(200, &body.to_string(), id.as_str());
    }
    match upstream(&path) {
        Some(worker) => env.service(worker.binding())?.fetch_request(req).await,
        None => {
            let id = RequestId::from_incoming(req.headers().get("X-Request-Id")?.as_deref());
            // Spelled out so the fields come in the order every worker's errors use.
            let body = format!(
                r#"{{"error":"No such resource or route.","code":"not_found","requestId":{}}}"#,
                serde_json::Value::from(id.as_str())
            );
            answer(404, &body, id.as_str())
        }
    }
}
