//! The `billing` worker: the customer API's buying routes — subscription and cart checkout,
//! a session's status, its live stream and reconcile, the billing portal, and an end user's
//! subscription (read, cancel, resume, change tier).
//!
//! It is the api worker's other half, bound to it by a service binding: the api forwards
//! these routes here unchanged, so callers keep one base URL while the metering worker stays
//! small (docs/architecture.md). It authenticates every call itself, with the same lanes
//! (`tollgate_edge::lanes`).
//!
//! A thin shell: it names its routes and hands each request to the shared pipeline in
//! `tollgate-edge`, which also serves `/health` and answers unknown routes.

mod checkout;
mod push;
mod subscription;

use tollgate::subscription::Route as Plan;
use tollgate::{Method, Route};
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, serve};
use worker::{Context, Env, Request, Response, event};

/// This worker's own routes; the shared ones (`/health`) come from the pipeline.
#[derive(Clone, Copy, Debug)]
enum Billing {
    CreateCheckout,
    CartCheckout,
    CheckoutStatus,
    CheckoutEvents,
    CheckoutStreamToken,
    Reconcile,
    CustomerPortal,
    Subscription,
    CancelSubscription,
    ResumeSubscription,
    ChangeSubscription,
    ForgetKeys,
}

/// The api worker forwards exactly these (its `Api::Billing` routes; tests/openapi.test.mjs
/// holds the two tables equal).
const ROUTES: &[Route<Billing>] = &[
    Route::new(
        Method::Post,
        "/api/create-checkout",
        Billing::CreateCheckout,
    ),
    Route::new(Method::Post, "/api/cart/checkout", Billing::CartCheckout),
    Route::new(
        Method::Get,
        "/api/checkout/{sessionId}",
        Billing::CheckoutStatus,
    ),
    Route::new(
        Method::Get,
        "/api/checkout/{sessionId}/events",
        Billing::CheckoutEvents,
    ),
    Route::new(
        Method::Post,
        "/api/checkout/{sessionId}/stream-token",
        Billing::CheckoutStreamToken,
    ),
    Route::new(
        Method::Post,
        "/api/checkout/{sessionId}/reconcile",
        Billing::Reconcile,
    ),
    Route::new(
        Method::Post,
        "/api/customer-portal",
        Billing::CustomerPortal,
    ),
    Route::new(Method::Get, "/api/subscription", Billing::Subscription),
    Route::new(
        Method::Post,
        "/api/subscription/cancel",
        Billing::CancelSubscription,
    ),
    Route::new(
        Method::Post,
        "/api/subscription/resume",
        Billing::ResumeSubscription,
    ),
    Route::new(
        Method::Post,
        "/api/subscription/change",
        Billing::ChangeSubscription,
    ),
    // The api worker relays the platform's key notices here (`FORGET_NOTICE_PATH`).
    Route::new(Method::Post, "/internal/keys/forget", Billing::ForgetKeys),
];

const SPEC: WorkerSpec<Billing> = WorkerSpec {
    name: "billing",
    version: env!("CARGO_PKG_VERSION"),
    routes: ROUTES,
    dev_routes: &[],
    health: HealthProbe::Storage,
    cors: Cors::Public,
};

/// `POST /internal/keys/forget`: the platform's signed notice, relayed by the api worker.
async fn forget_keys(mut ctx: Ctx) -> Result<Response, ApiError> {
    tollgate_edge::keyauth::take_forget_notice(&mut ctx, None).await
}

async fn handle(route: Billing, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Billing::CreateCheckout => checkout::subscription(ctx).await,
        Billing::CartCheckout => checkout::cart(ctx).await,
        Billing::CheckoutStatus => checkout::status(ctx).await,
        Billing::Reconcile => checkout::reconcile(ctx).await,
        Billing::CheckoutEvents => push::events(ctx).await,
        Billing::CheckoutStreamToken => push::stream_token(ctx).await,
        Billing::CustomerPortal => checkout::portal(ctx).await,
        Billing::Subscription => subscription::get(ctx).await,
        Billing::CancelSubscription => subscription::write(ctx, Plan::Cancel).await,
        Billing::ResumeSubscription => subscription::write(ctx, Plan::Resume).await,
        Billing::ChangeSubscription => subscription::write(ctx, Plan::Change).await,
        Billing::ForgetKeys => forget_keys(ctx).await,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, handle).await
}
