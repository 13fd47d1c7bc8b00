//! Emitting outbound webhook events: the outbox rows (one delivery per subscribed endpoint,
//! written with the change they report) and the queue messages that carry them to the
//! `webhooks` worker. Signing and sending live only there; producers need nothing else.
//!
//! A queue send that fails is logged and left: the delivery row is already committed as
//! pending, and the webhooks worker's sweep queues overdue rows again.

use crate::db::deliveries::{self, Outgoing, Queued};
use crate::{ApiError, log};
use tollgate::RequestId;
use tollgate::outbound::{DELIVERY_WINDOW_MS, DeliveryMessage, Envelope};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

/// The queue binding producers send on and the consumer reads.
pub const QUEUE: &str = "WEBHOOK_QUEUE";

/// The statement that fans `event` out to the project's subscribed endpoints (see
/// [`deliveries::fan_out`]); run it in the batch of the change it reports.
///
/// # Errors
/// Binding failures.
pub fn fan_out(
    db: &D1Database,
    event: &Envelope<'_>,
    guard: Option<(&str, Vec<JsValue>)>,
) -> Result<D1PreparedStatement, ApiError> {
    let payload = event.to_json();
    deliveries::fan_out(
        db,
        &Outgoing {
            project_id: event.project_id,
            event_id: event.id,
            event_type: event.kind,
            payload: &payload,
            now: event.created_at,
            deadline: event.created_at + DELIVERY_WINDOW_MS,
        },
        guard,
    )
}

/// The deliveries a fan-out statement wrote, read from its batch result.
///
/// # Errors
/// When the result cannot be read.
pub fn written(result: &D1Result) -> Result<Vec<Queued>, ApiError> {
    Ok(result.results::<Queued>()?)
}

/// Queues one message per delivery (none for an empty list). Never fails the caller: the
/// rows are committed, and the sweep covers a lost send.
pub async fn enqueue(env: &Env, request_id: &RequestId, queued: &[Queued]) {
    if queued.is_empty() {
        return;
    }
    let messages: Vec<DeliveryMessage> = queued
        .iter()
        .map(|q| DeliveryMessage {
            delivery_id: q.id.clone(),
            attempt: q.attempts,
        })
        .collect();
    let sent = match env.queue(QUEUE) {
        Ok(queue) => queue.send_batch(messages).await,
        Err(error) => Err(error),
    };
    if let Err(error) = sent {
        log::warn(
            request_id,
            "webhook_enqueue_failed",
            &format!("{} deliveries left for the sweep: {error}", queued.len()),
        );
    }
}

/// Fans `event` out on its own (when no other write reports it) and queues the deliveries.
/// An event emitted before gets no new deliveries: its id conflicts.
///
/// # Errors
/// Storage failures.
pub async fn emit(
    env: &Env,
    db: &D1Database,
    request_id: &RequestId,
    event: &Envelope<'_>,
) -> Result<(), ApiError> {
    let results = db.batch(vec![fan_out(db, event, None)?]).await?;
    let mut queued = Vec::new();
    for result in &results {
        queued.extend(written(result)?);
    }
    enqueue(env, request_id, &queued).await;
    Ok(())
}
