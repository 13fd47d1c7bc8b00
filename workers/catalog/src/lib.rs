//! The `catalog` worker: Stripe Connect onboarding, tiers and products synced to Stripe,
//! test-to-live promotion, and the console's view of a project's customers.
//!
//! A thin shell: it names its routes and hands each request to the shared pipeline in
//! `tollgate-edge`, which also serves `/health` and answers unknown routes.

mod connect;
mod customers;
mod items;
mod promote;
mod seller;

use tollgate::{Method, Route};
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, serve};
use worker::{Context, Env, Request, Response, event};

use items::Kind;
use tollgate::subscription::Route as Plan;

/// This worker's own routes; the shared ones (`/health`) come from the pipeline.
#[derive(Clone, Copy, Debug)]
enum Api {
    Authorize,
    Callback,
    Connections,
    Disconnect,
    List(Kind),
    Create(Kind),
    Get(Kind),
    Edit(Kind),
    Archive(Kind),
    Promote,
    Customers,
    Customer,
    DeleteCustomer,
    CustomerSubscription(Plan),
    RevokeEntitlement,
}

const ROUTES: &[Route<Api>] = &[
    Route::new(Method::Get, "/authorize", Api::Authorize),
    Route::new(Method::Get, "/callback", Api::Callback),
    Route::new(Method::Get, "/v1/stripe/connections", Api::Connections),
    Route::new(
        Method::Delete,
        "/v1/stripe/connections/{mode}",
        Api::Disconnect,
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/tiers",
        Api::List(Kind::Tier),
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/tiers",
        Api::Create(Kind::Tier),
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/tiers/{itemId}",
        Api::Get(Kind::Tier),
    ),
    Route::new(
        Method::Patch,
        "/v1/projects/{id}/tiers/{itemId}",
        Api::Edit(Kind::Tier),
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/tiers/{itemId}/archive",
        Api::Archive(Kind::Tier),
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/products",
        Api::List(Kind::Product),
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/products",
        Api::Create(Kind::Product),
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/products/{itemId}",
        Api::Get(Kind::Product),
    ),
    Route::new(
        Method::Patch,
        "/v1/projects/{id}/products/{itemId}",
        Api::Edit(Kind::Product),
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/products/{itemId}/archive",
        Api::Archive(Kind::Product),
    ),
    Route::new(Method::Post, "/v1/projects/{id}/promote", Api::Promote),
    Route::new(Method::Get, "/v1/projects/{id}/customers", Api::Customers),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/customers/{customerId}",
        Api::Customer,
    ),
    Route::new(
        Method::Delete,
        "/v1/projects/{id}/customers/{customerId}",
        Api::DeleteCustomer,
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/customers/{customerId}/entitlements/{entitlementId}/revoke",
        Api::RevokeEntitlement,
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/customers/{customerId}/subscription/cancel",
        Api::CustomerSubscription(Plan::Cancel),
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/customers/{customerId}/subscription/resume",
        Api::CustomerSubscription(Plan::Resume),
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/customers/{customerId}/subscription/change",
        Api::CustomerSubscription(Plan::Change),
    ),
];

const SPEC: WorkerSpec<Api> = WorkerSpec {
    name: "catalog",
    version: env!("CARGO_PKG_VERSION"),
    routes: ROUTES,
    dev_routes: &[],
    health: HealthProbe::Storage,
    cors: Cors::ConsoleWithCookies,
};

async fn handle(route: Api, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Api::Authorize => connect::authorize(ctx).await,
        Api::Callback => connect::callback(ctx).await,
        Api::Connections => connect::list(ctx).await,
        Api::Disconnect => connect::disconnect(ctx).await,
        Api::List(kind) => items::list(ctx, kind).await,
        Api::Create(kind) => items::create(ctx, kind).await,
        Api::Get(kind) => items::get(ctx, kind).await,
        Api::Edit(kind) => items::edit(ctx, kind).await,
        Api::Archive(kind) => items::archive(ctx, kind).await,
        Api::Promote => promote::promote(ctx).await,
        Api::Customers => customers::list(ctx).await,
        Api::Customer => customers::get(ctx).await,
        Api::DeleteCustomer => customers::delete(ctx).await,
        Api::CustomerSubscription(route) => customers::subscription(ctx, route).await,
        Api::RevokeEntitlement => customers::revoke(ctx).await,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, handle).await
}
