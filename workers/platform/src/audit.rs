//! The audit trail, newest first: the whole platform's or one project's.

use tollgate_edge::session::Session;
use tollgate_edge::views;
use tollgate_edge::{ApiError, Ctx, db, list};
use worker::Response;

pub(crate) async fn list(ctx: Ctx, of_project: bool) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project_id = if of_project {
        Some(session.project(&ctx).await?.id)
    } else {
        None
    };
    let page = list::page(&ctx)?;
    let (rows, total) = db::audit::list(
        &session.db,
        &session.platform.id,
        project_id.as_deref(),
        page,
    )
    .await?;
    list::respond(rows, total, page, views::audit)
}
