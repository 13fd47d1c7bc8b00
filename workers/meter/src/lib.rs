//! The `meter` worker: home of the Durable Object classes the api and webhooks workers bind
//! by script name — `Meter`, one end user's exact counter (see `counter`), and
//! `CheckoutPush`, live checkout status (see `push`). Its own fetch answers `GET /health`
//! and, in development only, the controls the flush tests use; nothing public reaches it.

mod counter;
mod push;

use serde::Deserialize;
use serde_json::json;
use tollgate::RequestId;
use tollgate::meter::object_name;
use tollgate_edge::config::{Config, Environment};
use worker::{Context, Env, Method, Request, Response, event};

fn answer(
    status: u16,
    body: &serde_json::Value,
    request_id: &RequestId,
) -> worker::Result<Response> {
    let response = Response::ok(body.to_string())?.with_status(status);
    let headers = response.headers();
    headers.set("Content-Type", "application/json")?;
    headers.set("X-Request-Id", request_id.as_str())?;
    headers.set("Cache-Control", "no-store")?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    Ok(response)
}

/// Which object a development control is for.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Target {
    project_id: String,
    end_user_id: String,
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let id = RequestId::from_incoming(req.headers().get("X-Request-Id")?.as_deref());
    let path = req.path();
    if path == "/health" {
        let body =
            json!({ "status": "ok", "worker": "meter", "version": env!("CARGO_PKG_VERSION") });
        return answer(200, &body, &id);
    }
    // `POST /__dev/meter/flush` and `/__dev/meter/fail-next-flush`, body `{ projectId, endUserId }`.
    let control = path.strip_prefix("/__dev/meter/");
    if let Some(control @ ("flush" | "fail-next-flush")) = control
        && req.method() == Method::Post
        && Config::from_env(&env).environment == Environment::Development
    {
        let Ok(target) = req.json::<Target>().await else {
            let body = json!({ "error": "Send { projectId, endUserId }.", "code": "validation_failed", "requestId": id.as_str() });
            return answer(400, &body, &id);
        };
        let stub = env
            .durable_object("METER")?
            .id_from_name(&object_name(&target.project_id, &target.end_user_id))?
            .get_stub()?;
        let mut reply = stub
            .fetch_with_request(Request::new(
                &format!("https://meter/{control}"),
                Method::Post,
            )?)
            .await?;
        let status = reply.status_code();
        let body = if status == 204 {
            json!({})
        } else {
            reply.json().await?
        };
        return answer(if status == 204 { 200 } else { status }, &body, &id);
    }
    let body = json!({ "error": "No such resource or route.", "code": "not_found", "requestId": id.as_str() });
    answer(404, &body, &id)
}
