//! The `webhooks` worker: Stripe webhooks verified and applied exactly once; outbound developer webhooks.
//!
//! A thin shell: it names its routes and hands each request to the shared pipeline in
//! `tollgate-edge`, which also serves `/health` and answers unknown routes.

mod apply;
mod signature_check;
mod stripe_hook;

use tollgate::{Method, Route};
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, serve};
use worker::{Context, Env, Request, Response, event};

/// This worker's own routes; the shared ones (`/health`) come from the pipeline.
#[derive(Clone, Copy, Debug)]
enum Hooks {
    Stripe,
    SignatureCheck,
}

const ROUTES: &[Route<Hooks>] = &[Route::new(Method::Post, "/webhook/stripe", Hooks::Stripe)];

/// Development only: the Rust signature check exposed to the Node oracle tests.
const DEV_ROUTES: &[Route<Hooks>] = &[Route::new(
    Method::Post,
    "/dev/stripe-signature",
    Hooks::SignatureCheck,
)];

const SPEC: WorkerSpec<Hooks> = WorkerSpec {
    name: "webhooks",
    version: env!("CARGO_PKG_VERSION"),
    routes: ROUTES,
    dev_routes: DEV_ROUTES,
    health: HealthProbe::Alive,
    cors: Cors::Closed,
};

async fn handle(route: Hooks, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Hooks::Stripe => stripe_hook::receive(ctx).await,
        Hooks::SignatureCheck => signature_check::check(ctx).await,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, handle).await
}
