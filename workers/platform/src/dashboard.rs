//! The developer's dashboards: one project (`GET /v1/projects/{id}/dashboard`; another
//! developer's project answers 404) and the totals of every project of one mode
//! (`GET /v1/dashboard?mode=live|test`, live by default; test and live never mix). Both are
//! the same aggregate statements over a different set of projects: one D1 batch of 12
//! statements (`db::dashboard`) after the session's own lookups.

use tollgate::Detail;
use tollgate::dashboard::{dashboard as build, requested_mode};
use tollgate_edge::db::dashboard::{self, Scope};
use tollgate_edge::session::Session;
use tollgate_edge::{ApiError, Ctx, json};
use worker::Response;

/// `GET /v1/projects/{id}/dashboard`. The scope itself checks ownership: a project that is
/// not the developer's (or is deleted) covers nothing, which answers 404.
pub(crate) async fn project(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let id = ctx.params.get("id").ok_or(ApiError::NotFound)?;
    let scope = Scope::Project {
        platform_id: &session.platform.id,
        project_id: id,
    };
    let aggregates = dashboard::aggregates(&session.db, scope, ctx.now_ms).await?;
    let mode = aggregates.projects[0]["mode"]
        .as_str()
        .ok_or(ApiError::NotFound)?
        .to_owned();
    json(
        200,
        &Detail {
            data: build(&mode, aggregates, ctx.now_ms),
        },
    )
}

/// `GET /v1/dashboard?mode=live|test`: every project of the mode, summed.
pub(crate) async fn totals(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let query = ctx.query();
    let mode = requested_mode(query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|reason| ApiError::field("mode", reason))?;
    let scope = Scope::Platform {
        platform_id: &session.platform.id,
        mode,
    };
    let aggregates = dashboard::aggregates(&session.db, scope, ctx.now_ms).await?;
    json(
        200,
        &Detail {
            data: build(mode.as_str(), aggregates, ctx.now_ms),
        },
    )
}
