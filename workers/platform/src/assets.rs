//! A project's assets for its signed-in developer: upload (the raw body; `filename` and
//! `visibility` in the query), list and delete. The work is shared with the secret-key lane
//! in `tollgate_edge::assets`; this lane adds only who the developer is.

use tollgate_edge::assets::{self, Owner};
use tollgate_edge::db::projects::ProjectRow;
use tollgate_edge::session::Session;
use tollgate_edge::{ApiError, Ctx};
use worker::Response;

/// The signed-in developer and the project named in the path (another developer's: 404).
async fn signed_in(ctx: &Ctx) -> Result<(Session, ProjectRow), ApiError> {
    let session = Session::start(ctx).await?;
    let project = session.project(ctx).await?;
    Ok((session, project))
}

/// The project's assets as the signed-in developer acts on them.
fn owner<'a>(session: &'a Session, project: &'a ProjectRow) -> Owner<'a> {
    Owner {
        project_id: &project.id,
        actor: session.actor(),
        db: &session.db,
    }
}

/// `POST /v1/projects/{id}/assets` (idempotent).
pub(crate) async fn upload(ctx: Ctx) -> Result<Response, ApiError> {
    let (session, project) = signed_in(&ctx).await?;
    let owner = owner(&session, &project);
    assets::upload(ctx, owner).await
}

/// `GET /v1/projects/{id}/assets`.
pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let (session, project) = signed_in(&ctx).await?;
    let owner = owner(&session, &project);
    assets::list(&ctx, &owner).await
}

/// `DELETE /v1/projects/{id}/assets/{assetId}`.
pub(crate) async fn delete(ctx: Ctx) -> Result<Response, ApiError> {
    let (session, project) = signed_in(&ctx).await?;
    let owner = owner(&session, &project);
    let id = ctx.params.get("assetId").ok_or(ApiError::NotFound)?;
    assets::delete(&ctx, &owner, id).await
}
