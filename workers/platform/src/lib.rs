//! The `platform` worker: developers, their projects, keys and assets, the audit trail, the
//! dashboards and the operators' admin lane.
//!
//! A thin shell: it names its routes and hands each request to the shared pipeline in
//! `tollgate-edge`, which also serves `/health` and answers unknown routes.

mod admin;
mod assets;
mod audit;
mod billing;
mod console;
mod dashboard;
mod dev;
mod keys;
mod projects;

use tollgate::{Method, Route};
use tollgate_edge::{ApiError, Cors, Ctx, HealthProbe, WorkerSpec, serve};
use worker::{Context, Env, Request, Response, event};

/// This worker's own routes; the shared ones (`/health`) come from the pipeline.
#[derive(Clone, Copy, Debug)]
enum Api {
    Platform,
    PlanCheckout,
    PlanPortal,
    ListProjects,
    CreateProject,
    GetProject,
    RenameProject,
    DeleteProject,
    SetEndUserAuth,
    ClearEndUserAuth,
    GetRedirectOrigins,
    SetRedirectOrigins,
    ListKeys,
    RotateKey,
    RevokeKey,
    PlatformAudit,
    ProjectAudit,
    ListAssets,
    UploadAsset,
    DeleteAsset,
    ProjectDashboard,
    Totals,
    AdminMetrics,
    AdminDevelopers,
    AdminDrift,
    AdminDriftRepair,
    Jwks,
    DevToken,
    Discovery,
    AuthorizePage,
    SignIn,
    OauthToken,
    ConsoleConfig,
}

const ROUTES: &[Route<Api>] = &[
    Route::new(Method::Get, "/console/config.json", Api::ConsoleConfig),
    Route::new(Method::Get, "/v1/platform", Api::Platform),
    Route::new(Method::Post, "/v1/billing/checkout", Api::PlanCheckout),
    Route::new(Method::Post, "/v1/billing/portal", Api::PlanPortal),
    Route::new(Method::Get, "/v1/projects", Api::ListProjects),
    Route::new(Method::Post, "/v1/projects", Api::CreateProject),
    Route::new(Method::Get, "/v1/projects/{id}", Api::GetProject),
    Route::new(Method::Patch, "/v1/projects/{id}", Api::RenameProject),
    Route::new(Method::Delete, "/v1/projects/{id}", Api::DeleteProject),
    Route::new(
        Method::Put,
        "/v1/projects/{id}/end-user-auth",
        Api::SetEndUserAuth,
    ),
    Route::new(
        Method::Delete,
        "/v1/projects/{id}/end-user-auth",
        Api::ClearEndUserAuth,
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/redirect-origins",
        Api::GetRedirectOrigins,
    ),
    Route::new(
        Method::Put,
        "/v1/projects/{id}/redirect-origins",
        Api::SetRedirectOrigins,
    ),
    Route::new(Method::Get, "/v1/projects/{id}/keys", Api::ListKeys),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/keys/rotate",
        Api::RotateKey,
    ),
    Route::new(
        Method::Post,
        "/v1/projects/{id}/keys/{keyId}/revoke",
        Api::RevokeKey,
    ),
    Route::new(Method::Get, "/v1/audit", Api::PlatformAudit),
    Route::new(Method::Get, "/v1/projects/{id}/audit", Api::ProjectAudit),
    Route::new(Method::Get, "/v1/projects/{id}/assets", Api::ListAssets),
    Route::new(Method::Post, "/v1/projects/{id}/assets", Api::UploadAsset),
    Route::new(
        Method::Delete,
        "/v1/projects/{id}/assets/{assetId}",
        Api::DeleteAsset,
    ),
    Route::new(
        Method::Get,
        "/v1/projects/{id}/dashboard",
        Api::ProjectDashboard,
    ),
    Route::new(Method::Get, "/v1/dashboard", Api::Totals),
    Route::new(Method::Get, "/v1/admin/metrics", Api::AdminMetrics),
    Route::new(Method::Get, "/v1/admin/developers", Api::AdminDevelopers),
    Route::new(Method::Get, "/v1/admin/drift", Api::AdminDrift),
    Route::new(
        Method::Post,
        "/v1/admin/drift/repair",
        Api::AdminDriftRepair,
    ),
];

/// The development identity issuer (local runs and tests only).
const DEV_ROUTES: &[Route<Api>] = &[
    Route::new(Method::Get, "/.well-known/jwks.json", Api::Jwks),
    Route::new(Method::Post, "/dev/token", Api::DevToken),
    Route::new(
        Method::Get,
        "/.well-known/openid-configuration",
        Api::Discovery,
    ),
    Route::new(Method::Get, "/oauth/authorize", Api::AuthorizePage),
    Route::new(Method::Post, "/oauth/authorize", Api::SignIn),
    Route::new(Method::Post, "/oauth/token", Api::OauthToken),
];

const SPEC: WorkerSpec<Api> = WorkerSpec {
    name: "platform",
    version: env!("CARGO_PKG_VERSION"),
    routes: ROUTES,
    dev_routes: DEV_ROUTES,
    health: HealthProbe::Storage,
    cors: Cors::Console,
};

async fn handle(route: Api, ctx: Ctx) -> Result<Response, ApiError> {
    match route {
        Api::Platform => projects::platform(ctx).await,
        Api::PlanCheckout => billing::checkout(ctx).await,
        Api::PlanPortal => billing::portal(ctx).await,
        Api::ListProjects => projects::list(ctx).await,
        Api::CreateProject => projects::create(ctx).await,
        Api::GetProject => projects::get(ctx).await,
        Api::RenameProject => projects::rename(ctx).await,
        Api::DeleteProject => projects::delete(ctx).await,
        Api::SetEndUserAuth => projects::set_end_user_auth(ctx, false).await,
        Api::ClearEndUserAuth => projects::set_end_user_auth(ctx, true).await,
        Api::GetRedirectOrigins => projects::redirect_origins(ctx, false).await,
        Api::SetRedirectOrigins => projects::redirect_origins(ctx, true).await,
        Api::ListKeys => keys::list(ctx).await,
        Api::RotateKey => keys::rotate(ctx).await,
        Api::RevokeKey => keys::revoke(ctx).await,
        Api::PlatformAudit => audit::list(ctx, false).await,
        Api::ProjectAudit => audit::list(ctx, true).await,
        Api::ListAssets => assets::list(ctx).await,
        Api::UploadAsset => assets::upload(ctx).await,
        Api::DeleteAsset => assets::delete(ctx).await,
        Api::ProjectDashboard => dashboard::project(ctx).await,
        Api::Totals => dashboard::totals(ctx).await,
        Api::AdminMetrics => admin::metrics(ctx).await,
        Api::AdminDevelopers => admin::developers(ctx).await,
        Api::AdminDrift => admin::drift(ctx).await,
        Api::AdminDriftRepair => admin::repair(ctx).await,
        Api::Jwks => dev::jwks(&ctx),
        Api::DevToken => dev::token(ctx).await,
        Api::Discovery => dev::discovery(&ctx),
        Api::AuthorizePage => dev::authorize_page(&ctx),
        Api::SignIn => dev::sign_in(ctx).await,
        Api::OauthToken => dev::exchange(ctx).await,
        Api::ConsoleConfig => console::config(&ctx),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    if let Some(page) = console::static_file(&req, &env).await? {
        return Ok(page);
    }
    serve(req, env, &SPEC, handle).await
}
