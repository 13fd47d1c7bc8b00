//! The `api` worker: the customer-facing API — key auth at the edge, end users, metering,
//! the public catalog, the project's dashboard, assets and protected downloads. Paths and
//! field names follow dream-api's so its integrations keep working.
//!
//! Its metering counts in the meter worker's objects (see `metering`). Its buying routes
//! (checkout, the billing portal, subscriptions) are the billing worker's: they are in the
//! table below, so the api answers every customer-API path, and go there unchanged over a
//! service binding, which keeps the checkout flows' code out of the metering worker.
//!
//! A thin shell: it names its routes and hands each request to the shared pipeline in
//! `tollgate-edge`, which also serves `/health` and answers unknown routes.

mod assets;
mod catalog;
mod customers;
mod dashboard;
mod downloads;
mod entitlements;
mod metering;
mod tokens;

use serde_json::json;
use tollgate::{Detail, Method, Route};
use tollgate_edge::lanes;
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, json, serve};
use worker::{Context, Env, Request, Response, event};

/// This worker's own routes; the shared ones (`/health`) come from the pipeline.
#[derive(Clone, Copy, Debug)]
enum Api {
    /// A route of the billing worker's, forwarded there.
    Billing,
    Project,
    Track,
    Usage,
    CustomerToken,
    ListCustomers,
    CreateCustomer,
    GetCustomer,
    UpdateCustomer,
    DeleteCustomer,
    Tiers,
    Products,
    ListAssets,
    UploadAsset,
    DeleteAsset,
    PublicAsset,
    Entitlements,
    RevokeEntitlement,
    IssueDownload,
    Download,
    Dashboard,
    ForgetKeys,
}

/// The `Api::Billing` routes are exactly the billing worker's (tests/openapi.test.mjs holds the
/// two tables equal).
const ROUTES: &[Route<Api>] = &[
    Route::new(Method::Get, "/api/project", Api::Project),
    Route::new(Method::Post, "/api/data", Api::Track),
    Route::new(Method::Post, "/api/usage/track", Api::Track),
    Route::new(Method::Get, "/api/usage", Api::Usage),
    Route::new(Method::Post, "/api/customer-token", Api::CustomerToken),
    Route::new(Method::Get, "/api/customers", Api::ListCustomers),
    Route::new(Method::Post, "/api/customers", Api::CreateCustomer),
    Route::new(Method::Get, "/api/customers/{id}", Api::GetCustomer),
    Route::new(Method::Patch, "/api/customers/{id}", Api::UpdateCustomer),
    Route::new(Method::Delete, "/api/customers/{id}", Api::DeleteCustomer),
    Route::new(Method::Post, "/api/create-checkout", Api::Billing),
    Route::new(Method::Post, "/api/cart/checkout", Api::Billing),
    Route::new(Method::Get, "/api/checkout/{sessionId}", Api::Billing),
    Route::new(
        Method::Get,
        "/api/checkout/{sessionId}/events",
        Api::Billing,
    ),
    Route::new(
        Method::Post,
        "/api/checkout/{sessionId}/stream-token",
        Api::Billing,
    ),
    Route::new(
        Method::Post,
        "/api/checkout/{sessionId}/reconcile",
        Api::Billing,
    ),
    Route::new(Method::Post, "/api/customer-portal", Api::Billing),
    Route::new(Method::Get, "/api/subscription", Api::Billing),
    Route::new(Method::Post, "/api/subscription/cancel", Api::Billing),
    Route::new(Method::Post, "/api/subscription/resume", Api::Billing),
    Route::new(Method::Post, "/api/subscription/change", Api::Billing),
    Route::new(Method::Get, "/api/tiers", Api::Tiers),
    Route::new(Method::Get, "/api/products", Api::Products),
    Route::new(Method::Get, "/api/assets", Api::ListAssets),
    Route::new(Method::Post, "/api/assets", Api::UploadAsset),
    Route::new(Method::Delete, "/api/assets/{assetId}", Api::DeleteAsset),
    Route::new(
        Method::Get,
        "/assets/public/{projectId}/{name}",
        Api::PublicAsset,
    ),
    Route::new(Method::Get, "/api/entitlements", Api::Entitlements),
    Route::new(
        Method::Post,
        "/api/entitlements/{id}/revoke",
        Api::RevokeEntitlement,
    ),
    Route::new(Method::Post, "/api/downloads", Api::IssueDownload),
    Route::new(Method::Get, "/api/downloads/{token}", Api::Download),
    Route::new(Method::Get, "/api/dashboard", Api::Dashboard),
    // `tollgate_edge::keyauth::FORGET_NOTICE_PATH`, spelled out for the contract's checks.
    Route::new(Method::Post, "/internal/keys/forget", Api::ForgetKeys),
];

const SPEC: WorkerSpec<Api> = WorkerSpec {
    name: "api",
    version: env!("CARGO_PKG_VERSION"),
    routes: ROUTES,
    dev_routes: &[],
    health: HealthProbe::Storage,
    cors: Cors::Public,
};

/// `GET /api/project`: which project the presented key speaks for — a quick check that a
/// key is configured right, answered for secret and publishable keys alike.
async fn project(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let auth = caller.auth;
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

/// `POST /internal/keys/forget`: the platform worker's signed notice that key records
/// changed, relayed to the billing worker, whose isolates cache keys too.
async fn forget_keys(mut ctx: Ctx) -> Result<Response, ApiError> {
    tollgate_edge::keyauth::take_forget_notice(&mut ctx, Some("BILLING")).await
}

/// A billing route: the request goes to the billing worker as it came, under this
/// request's id, and its answer comes back as it went.
async fn billing(ctx: Ctx) -> Result<Response, ApiError> {
    tollgate_edge::forward::to(ctx, "BILLING").await
}

async fn handle(route: Api, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Api::Project => project(ctx).await,
        Api::Track => metering::track(ctx).await,
        Api::Usage => metering::current(ctx).await,
        Api::CustomerToken => tokens::mint(ctx).await,
        Api::ListCustomers => customers::list(ctx).await,
        Api::CreateCustomer => customers::create(ctx).await,
        Api::GetCustomer => customers::get(ctx).await,
        Api::UpdateCustomer => customers::update(ctx).await,
        Api::DeleteCustomer => customers::delete(ctx).await,
        Api::Billing => billing(ctx).await,
        Api::Tiers => catalog::tiers(ctx).await,
        Api::Products => catalog::products(ctx).await,
        Api::ListAssets => assets::list(ctx).await,
        Api::UploadAsset => assets::upload(ctx).await,
        Api::DeleteAsset => assets::delete(ctx).await,
        Api::PublicAsset => assets::serve(ctx).await,
        Api::Entitlements => entitlements::list(ctx).await,
        Api::RevokeEntitlement => entitlements::revoke(ctx).await,
        Api::IssueDownload => downloads::issue(ctx).await,
        Api::Download => downloads::fetch(ctx).await,
        Api::Dashboard => dashboard::get(ctx).await,
        Api::ForgetKeys => forget_keys(ctx).await,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    serve(req, env, &SPEC, handle).await
}
