//! The developer's view of a project's Stripe events: the list (type, time, outcome — never
//! payloads) and a re-application that fetches the event from Stripe again.

use crate::apply::{self, Again};
use serde_json::json;
use tollgate::Mode;
use tollgate::stripe::calls::retrieve_event;
use tollgate_edge::db::billing::{self, EventRow};
use tollgate_edge::session::Session;
use tollgate_edge::stripe::StripeClient;
use tollgate_edge::{ApiError, Ctx, json, list};
use worker::Response;

fn view(row: &EventRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "type": row.kind,
        "livemode": row.livemode,
        "created": row.created,
        "outcome": row.outcome,
        "receivedAt": row.received_at,
    })
}

/// `GET /v1/projects/{id}/events`: newest first, paginated.
pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let page = list::page(&ctx)?;
    let (rows, total) = billing::project_events(&session.db, &project.id, page).await?;
    list::respond(rows, total, page, |row| view(&row))
}

/// `POST /v1/projects/{id}/events/{eventId}/reapply` (fresh sign-in): reads the event from
/// Stripe and applies it through the delivery path. An applied event stays applied once.
pub(crate) async fn reapply(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let id = ctx.params.get("eventId").ok_or(ApiError::NotFound)?;
    let row = billing::project_event(&session.db, &project.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mode = if row.livemode { Mode::Live } else { Mode::Test };
    let event = StripeClient::from_env(&ctx.env, mode)?
        .send(&retrieve_event(row.account_id.as_deref(), &row.id))
        .await?;
    let receipt = apply::apply(&ctx, &event, Again::IfUnapplied).await?;
    json(200, &json!({ "data": receipt }))
}
