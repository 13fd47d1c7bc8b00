//! The audit trail, newest first: the whole platform's or one project's.

use crate::projects::page;
use crate::session::Session;
use crate::views;
use tollgate::ListPage;
use tollgate_edge::{ApiError, Ctx, db, json};
use worker::Response;

pub(crate) async fn list(ctx: Ctx, of_project: bool) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project_id = if of_project {
        Some(session.project(&ctx).await?.id)
    } else {
        None
    };
    let page = page(&ctx)?;
    let (rows, total) = db::audit::list(
        &session.db,
        &session.platform.id,
        project_id.as_deref(),
        page,
    )
    .await?;
    let data = rows.into_iter().map(views::audit).collect();
    json(
        200,
        &ListPage {
            data,
            total,
            page: page.page,
            page_size: page.page_size,
        },
    )
}
