//! The `api` worker: the customer-facing API — key auth at the edge, end users, metering and
//! checkout.
//!
//! A thin shell: it names its routes and hands each request to the shared pipeline in
//! `tollgate-edge`, which also serves `/health` and answers unknown routes.

use serde_json::json;
use tollgate::{Detail, Method, Route};
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, json, keyauth, secrets, serve};
use worker::{Context, Env, Request, Response, event};

/// This worker's own routes; the shared ones (`/health`) come from the pipeline.
#[derive(Clone, Copy, Debug)]
enum Api {
    Project,
}

const SPEC: WorkerSpec<Api> = WorkerSpec {
    name: "api",
    version: env!("CARGO_PKG_VERSION"),
    routes: &[Route::new(Method::Get, "/api/project", Api::Project)],
    dev_routes: &[],
    health: HealthProbe::Storage,
    cors: Cors::Public,
};

/// `GET /api/project`: which project the presented key speaks for — a quick check that a
/// key is configured right, answered for secret and publishable keys alike.
async fn project(ctx: Ctx) -> Result<Response, ApiError> {
    let key = keyauth::presented(&ctx)?;
    let pepper = secrets::pepper(&ctx.env)?;
    let auth = keyauth::authenticate(&ctx.env, &key, &pepper, ctx.now_ms).await?;
    json(
        200,
        &Detail {
            data: json!({
                "projectId": auth.project_id,
                "mode": auth.mode,
                "type": auth.project_type,
                "lane": auth.lane,
                "keyExpiresAt": auth.expires_at,
            }),
        },
    )
}

async fn handle(route: Api, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Api::Project => project(ctx).await,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, handle).await
}
