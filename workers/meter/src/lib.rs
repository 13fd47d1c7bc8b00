//! The `meter` worker: home of the Durable Object classes the api, webhooks, catalog and
//! platform workers bind by script name — `Meter`, one end user's exact counter (see
//! `counter`), and `CheckoutPush`, live checkout status (see `push`). Its own fetch is the
//! shared pipeline with no public route: `/health`, and in development only the flush
//! controls the tests and the bench use.

mod counter;
mod push;

use serde::Deserialize;
use tollgate::routing::{Method, Route};
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, body, json, meter, serve};
use worker::{Context, Env, Request, Response, event};

/// A development control, sent on to one counter object.
#[derive(Clone, Copy, Debug)]
enum Control {
    /// Flush now; answers `{ rows, pending, flushes }`.
    Flush,
    /// Make the object's next flush fail (the retry test).
    FailNextFlush,
}

/// Which object a control is for.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Target {
    project_id: String,
    end_user_id: String,
}

const DEV_ROUTES: &[Route<Control>] = &[
    Route::new(Method::Post, "/dev/meter/flush", Control::Flush),
    Route::new(
        Method::Post,
        "/dev/meter/fail-next-flush",
        Control::FailNextFlush,
    ),
];

const SPEC: WorkerSpec<Control> = WorkerSpec {
    name: "meter",
    version: env!("CARGO_PKG_VERSION"),
    routes: &[],
    dev_routes: DEV_ROUTES,
    // Its objects read and write D1 on their own; the worker itself touches no storage.
    health: HealthProbe::Alive,
    cors: Cors::Closed,
};

async fn handle(route: Control, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Control::Flush => control(ctx, "flush").await,
        Control::FailNextFlush => control(ctx, "fail-next-flush").await,
    }
}

/// Sends a control to the object the body names, and answers what it said.
async fn control(mut ctx: Ctx, path: &str) -> Result<Response, ApiError> {
    let target: Target = body::json(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let mut reply = meter::post(
        &ctx.env,
        &target.project_id,
        &target.end_user_id,
        path,
        None,
    )
    .await?;
    match reply.status_code() {
        200 => json(200, &reply.json::<serde_json::Value>().await?),
        204 => json(200, &serde_json::json!({})),
        status => Err(ApiError::internal(format!(
            "meter object answered {status}"
        ))),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, handle).await
}
