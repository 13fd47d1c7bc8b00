//! The `webhooks` worker: Stripe webhooks verified and applied exactly once; outbound developer webhooks.
//!
//! A thin shell: it names its routes and hands each request to the shared pipeline in
//! `tollgate-edge`, which also serves `/health` and answers unknown routes. It also consumes
//! the outbound delivery queue and runs the sweep on a cron trigger.

mod apply;
mod deliveries;
mod delivery;
mod emitted;
mod endpoints;
mod event_log;
mod reconcile;
mod signature_check;
mod stripe_hook;

use tollgate::outbound::DeliveryMessage;
use tollgate::{Method, Route};
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, serve};
use worker::{
    Context, Env, MessageBatch, Request, Response, ScheduleContext, ScheduledEvent, event,
};

/// This worker's own routes; the shared ones (`/health`) come from the pipeline.
#[derive(Clone, Copy, Debug)]
enum Hooks {
    Stripe,
    Events,
    Reapply,
    SignatureCheck,
    Endpoints,
    CreateEndpoint,
    Endpoint,
    EditEndpoint,
    DeleteEndpoint,
    RotateSecret,
    SendTest,
    Deliveries,
    Delivery,
    Resend,
    Reconcile,
}

const ROUTES: &[Route<Hooks>] = &[
    Route::new(Method::Post, "/webhook/stripe", Hooks::Stripe),
    // Signed by the api worker (service binding); 404 for anything else.
    Route::new(Method::Post, "/internal/reconcile", Hooks::Reconcile),
    Route::new(Method::Get, "/v1/projects/{id}/events", Hooks::Events),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/events/{eventId}/reapply",
        Hooks::Reapply,
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/webhook-endpoints",
        Hooks::Endpoints,
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/webhook-endpoints",
        Hooks::CreateEndpoint,
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/webhook-endpoints/{endpointId}",
        Hooks::Endpoint,
    ),
    Route::new(
        Method::Patch,
        "/v1/projects/{id}/webhook-endpoints/{endpointId}",
        Hooks::EditEndpoint,
    ),
    Route::new(
        Method::Delete,
        "/v1/projects/{id}/webhook-endpoints/{endpointId}",
        Hooks::DeleteEndpoint,
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/webhook-endpoints/{endpointId}/rotate-secret",
        Hooks::RotateSecret,
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/webhook-endpoints/{endpointId}/test",
        Hooks::SendTest,
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/webhook-deliveries",
        Hooks::Deliveries,
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/webhook-deliveries/{deliveryId}",
        Hooks::Delivery,
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/webhook-deliveries/{deliveryId}/resend",
        Hooks::Resend,
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
    health: HealthProbe::Storage,
    // The console reads the event log; Stripe's deliveries never send an Origin.
    cors: Cors::Console,
};

async fn handle(route: Hooks, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Hooks::Stripe => stripe_hook::receive(ctx).await,
        Hooks::Events => event_log::list(ctx).await,
        Hooks::Reapply => event_log::reapply(ctx).await,
        Hooks::SignatureCheck => signature_check::check(ctx).await,
        Hooks::Endpoints => endpoints::list(ctx).await,
        Hooks::CreateEndpoint => endpoints::create(ctx).await,
        Hooks::Endpoint => endpoints::get(ctx).await,
        Hooks::EditEndpoint => endpoints::edit(ctx).await,
        Hooks::DeleteEndpoint => endpoints::delete(ctx).await,
        Hooks::RotateSecret => endpoints::rotate(ctx).await,
        Hooks::SendTest => deliveries::send_test(ctx).await,
        Hooks::Deliveries => deliveries::list(ctx).await,
        Hooks::Delivery => deliveries::get(ctx).await,
        Hooks::Resend => deliveries::resend(ctx).await,
        Hooks::Reconcile => reconcile::reconcile(ctx).await,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, handle).await
}

/// The outbound delivery queue: one attempt per message. Never returns an error (the runtime
/// would retry the whole batch); each message is acknowledged or retried on its own.
#[event(queue)]
async fn queue(
    batch: MessageBatch<DeliveryMessage>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    tollgate_edge::panic::install_hook();
    delivery::consume(batch, env).await;
    Ok(())
}

/// The cron sweep: overdue pending deliveries go back on the queue.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    tollgate_edge::panic::install_hook();
    delivery::sweep(&env).await;
}
