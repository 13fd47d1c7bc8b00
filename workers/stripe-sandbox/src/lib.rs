//! The `stripe-sandbox` worker: a Stripe-compatible provider for local runs and tests, never deployed to production.
//!
//! A thin shell: it names its routes and hands each request to the shared pipeline in
//! `tollgate-edge`, which also serves `/health` and answers unknown routes.

use tollgate_edge::{Cors, HealthProbe, WorkerSpec, serve};
use worker::{Context, Env, Request, Response, event};

/// This worker's own routes; the shared ones (`/health`) come from the pipeline.
#[derive(Clone, Copy, Debug)]
enum Route {}

const SPEC: WorkerSpec<Route> = WorkerSpec {
    name: "stripe-sandbox",
    version: env!("CARGO_PKG_VERSION"),
    routes: &[],
    dev_routes: &[],
    health: HealthProbe::Alive,
    cors: Cors::Closed,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, |route, _ctx| async move { match route {} }).await
}
