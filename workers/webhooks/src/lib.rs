//! The `webhooks` worker: Stripe webhooks verified and applied exactly once; outbound developer webhooks.
//!
//! A thin shell: it names its routes and hands each request to the shared pipeline in
//! `tollgate-edge`, which also serves `/health` and answers unknown routes.

mod apply;
mod event_log;
mod signature_check;
mod stripe_hook;

use tollgate::{Method, Route};
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, serve};
use worker::{Context, Env, Request, Response, event};

/// This worker's own routes; the shared ones (`/health`) come from the pipeline.
#[derive(Clone, Copy, Debug)]
enum Hooks {
    Stripe,
    Events,
    Reapply,
    SignatureCheck,
}

const ROUTES: &[Route<Hooks>] = &[
    Route::new(Method::Post, "/webhook/stripe", Hooks::Stripe),
    Route::new(Method::Get, "/v1/projects/{id}/events", Hooks::Events),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/events/{eventId}/reapply",
        Hooks::Reapply,
    ),
];

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
    // The console reads the event log; Stripe's deliveries never send an Origin.
    cors: Cors::Console,
};

async fn handle(route: Hooks, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Hooks::Stripe => stripe_hook::receive(ctx).await,
        Hooks::Events => event_log::list(ctx).await,
        Hooks::Reapply => event_log::reapply(ctx).await,
        Hooks::SignatureCheck => signature_check::check(ctx).await,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, handle).await
}
