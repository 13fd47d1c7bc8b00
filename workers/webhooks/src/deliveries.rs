//! A project's outbound webhook deliveries (developer lane): the list (filterable by
//! endpoint, status and event type), one delivery with its payload, a resend that puts it
//! back on the queue now under the same event id, and a test event sent to one endpoint.

use crate::endpoints::{endpoint, mode_of};
use serde::Serialize;
use serde_json::{Value, json};
use tollgate::Detail;
use tollgate::ids::new_id;
use tollgate::outbound::{
    DELIVERY_WINDOW_MS, DeliveryFilter, EndpointStatus, Envelope, EventType, TestEvent,
};
use tollgate_edge::audit::{self, Change};
use tollgate_edge::db::deliveries::{self as store, DeliveryRow, Outgoing};
use tollgate_edge::db::webhook_endpoints;
use tollgate_edge::session::Session;
use tollgate_edge::{ApiError, Ctx, json, list, outbound};
use worker::Response;

/// A delivery as the developer sees it, with the body it sends (their own data; the
/// signature and secret are never stored).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    id: &'a str,
    project_id: &'a str,
    endpoint_id: &'a str,
    event_id: &'a str,
    event_type: &'a str,
    status: &'a str,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_error: Option<&'a str>,
    deadline_at: i64,
    delivered_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    payload: Value,
}

fn view(row: &DeliveryRow) -> View<'_> {
    View {
        id: &row.id,
        project_id: &row.project_id,
        endpoint_id: &row.endpoint_id,
        event_id: &row.event_id,
        event_type: &row.event_type,
        status: row.status.as_str(),
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at,
        last_attempt_at: row.last_attempt_at,
        last_status_code: row.last_status_code,
        last_error: row.last_error.as_deref(),
        deadline_at: row.deadline_at,
        delivered_at: row.delivered_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        payload: serde_json::from_str(&row.payload).unwrap_or(Value::Null),
    }
}

async fn delivery(ctx: &Ctx, session: &Session, project_id: &str) -> Result<DeliveryRow, ApiError> {
    let id = ctx.params.get("deliveryId").ok_or(ApiError::NotFound)?;
    store::get(&session.db, project_id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `GET /v1/projects/{id}/webhook-deliveries`: newest first, paginated; `endpointId`,
/// `status` and `eventType` narrow it.
pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let page = list::page(&ctx)?;
    let pairs = ctx.query();
    let filter = DeliveryFilter::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(ApiError::Validation)?;
    let (rows, total) = store::list(&session.db, &project.id, &filter, page).await?;
    list::respond(rows.iter().collect(), total, page, view)
}

/// `GET /v1/projects/{id}/webhook-deliveries/{deliveryId}`.
pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let row = delivery(&ctx, &session, &project.id).await?;
    json(200, &Detail { data: view(&row) })
}

/// `POST /v1/projects/{id}/webhook-deliveries/{deliveryId}/resend`: pending again now, with a
/// new 24 h window and the same event id (`webhook-id`), so a receiver that deduplicates
/// sees it as the same event. Audited; refused while the endpoint is disabled or deleted.
pub(crate) async fn resend(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    mode_of(&project)?;
    let row = delivery(&ctx, &session, &project.id).await?;
    let enabled = webhook_endpoints::get(&session.db, &project.id, &row.endpoint_id)
        .await?
        .is_some_and(|e| e.status == EndpointStatus::Enabled);
    if !enabled {
        return Err(ApiError::EndpointDisabled);
    }
    let now = ctx.now_ms;
    let results = session
        .db
        .batch(vec![
            store::resend(&session.db, &project.id, &row.id, now + DELIVERY_WINDOW_MS, now)?,
            audit::event(
                &ctx,
                &session.db,
                session.actor(),
                Change {
                    project_id: Some(&project.id),
                    action: "webhook_delivery.resent",
                    target_type: "webhook_delivery",
                    target_id: &row.id,
                },
                &json!({ "eventId": row.event_id, "eventType": row.event_type, "endpointId": row.endpoint_id }),
            )?,
        ])
        .await?;
    if let Some(result) = results.first() {
        outbound::enqueue(&ctx.env, &ctx.request_id, &outbound::written(result)?).await;
    }
    let fresh = delivery(&ctx, &session, &project.id).await?;
    json(202, &Detail { data: view(&fresh) })
}

/// `POST /v1/projects/{id}/webhook-endpoints/{endpointId}/test`: one `webhook.test` event,
/// signed and retried like any other, to this endpoint only (whatever it subscribes to), so a
/// developer sees their receiver verify a real delivery. Each call is a new event. Audited;
/// refused while the endpoint is disabled.
pub(crate) async fn send_test(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let mode = mode_of(&project)?;
    let target = endpoint(&ctx, &session, &project.id).await?;
    if target.status != EndpointStatus::Enabled {
        return Err(ApiError::EndpointDisabled);
    }
    let now = ctx.now_ms;
    let event_id = new_id("evt");
    let data = TestEvent::new(&target.id);
    let event = Envelope::new(
        &event_id,
        EventType::Test,
        now,
        &project.id,
        mode.as_str(),
        &data,
    );
    let payload = event.to_json();
    let outgoing = Outgoing {
        project_id: &project.id,
        event_id: &event_id,
        event_type: event.kind,
        payload: &payload,
        now,
        deadline: now + DELIVERY_WINDOW_MS,
    };
    let results = session
        .db
        .batch(vec![
            store::to_endpoint(&session.db, &outgoing, &target.id)?,
            audit::event(
                &ctx,
                &session.db,
                session.actor(),
                Change {
                    project_id: Some(&project.id),
                    action: "webhook_endpoint.tested",
                    target_type: "webhook_endpoint",
                    target_id: &target.id,
                },
                &json!({ "eventId": event_id }),
            )?,
        ])
        .await?;
    let queued = match results.first() {
        Some(result) => outbound::written(result)?,
        None => Vec::new(),
    };
    // Disabled between the check and the batch: nothing was written to send.
    let Some(written) = queued.first() else {
        return Err(ApiError::EndpointDisabled);
    };
    outbound::enqueue(&ctx.env, &ctx.request_id, &queued).await;
    let row = store::get(&session.db, &project.id, &written.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    json(202, &Detail { data: view(&row) })
}
