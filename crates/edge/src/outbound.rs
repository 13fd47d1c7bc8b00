//! Emitting outbound webhook events: the outbox rows (one delivery per subscribed endpoint,
//! written with the change they report) and the queue messages that carry them to the
//! `webhooks` worker. Signing and sending live only there; producers need nothing else.
//!
//! A queue send that fails is logged and left: the delivery row is already committed as
//! pending, and the webhooks worker's sweep queues overdue rows again.
//!
//! Messages go through the binding's own `sendBatch`, with bodies built by `serde_json`:
//! the `worker` crate's queue wrapper would add a second serializer to the `api` worker,
//! which is near its size budget.

use crate::db::deliveries::{self, Outgoing, Queued};
use crate::{ApiError, log};
use js_sys::{JSON, Promise, Reflect};
use tollgate::RequestId;
use tollgate::outbound::{DELIVERY_WINDOW_MS, DeliveryMessage, Envelope};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

#[wasm_bindgen]
extern "C" {
    /// A Queues producer binding.
    type QueueBinding;

    #[wasm_bindgen(method, catch, js_name = sendBatch)]
    fn send_batch(this: &QueueBinding, messages: &JsValue) -> Result<Promise, JsValue>;
}

/// Sends `messages`, each after its delay in seconds (0 = now), in one `sendBatch` call.
///
/// # Errors
/// When the binding is missing or the queue refuses the batch.
pub async fn send(env: &Env, messages: &[(DeliveryMessage, u32)]) -> Result<(), ApiError> {
    let binding = Reflect::get(env, &JsValue::from_str(QUEUE))
        .ok()
        .filter(|b| !b.is_undefined())
        .ok_or_else(|| ApiError::internal(format!("binding {QUEUE} is not configured")))?;
    let batch: Vec<serde_json::Value> = messages
        .iter()
        .map(|(body, delay)| serde_json::json!({ "body": body, "contentType": "json", "delaySeconds": delay }))
        .collect();
    let batch = JSON::parse(&serde_json::to_string(&batch)?)
        .map_err(|e| ApiError::internal(format!("queue batch: {e:?}")))?;
    let sent = binding
        .unchecked_into::<QueueBinding>()
        .send_batch(&batch)
        .map_err(|e| ApiError::internal(format!("sendBatch: {e:?}")))?;
    JsFuture::from(sent)
        .await
        .map_err(|e| ApiError::internal(format!("sendBatch: {e:?}")))?;
    Ok(())
}

/// The queue binding producers send on and the consumer reads.
pub const QUEUE: &str = "WEBHOOK_QUEUE";

/// The statement that fans `event` out to the project's subscribed endpoints (see
/// [`deliveries::fan_out`]); run it in the batch of the change it reports.
///
/// # Errors
/// Binding failures.
pub fn fan_out<T: serde::Serialize>(
    db: &D1Database,
    event: &Envelope<'_, T>,
    guard: Option<(&str, Vec<JsValue>)>,
) -> Result<D1PreparedStatement, ApiError> {
    // Only the body is generic; the statement is built once for every event type.
    fan_out_body(
        db,
        event.id,
        event.kind,
        event.project_id,
        event.created_at,
        &event.to_json(),
        guard,
    )
}

fn fan_out_body(
    db: &D1Database,
    event_id: &str,
    event_type: &str,
    project_id: &str,
    created_at: i64,
    payload: &str,
    guard: Option<(&str, Vec<JsValue>)>,
) -> Result<D1PreparedStatement, ApiError> {
    deliveries::fan_out(
        db,
        &Outgoing {
            project_id,
            event_id,
            event_type,
            payload,
            now: created_at,
            deadline: created_at + DELIVERY_WINDOW_MS,
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
    let messages: Vec<(DeliveryMessage, u32)> = queued
        .iter()
        .map(|q| {
            (
                DeliveryMessage {
                    delivery_id: q.id.clone(),
                    attempt: q.attempts,
                },
                0,
            )
        })
        .collect();
    if let Err(error) = send(env, &messages).await {
        log::warn(
            request_id,
            "webhook_enqueue_failed",
            &format!(
                "{} deliveries left for the sweep: {}",
                queued.len(),
                error.for_log()
            ),
        );
    }
}

/// Fans `event` out on its own (when no other write reports it) and queues the deliveries.
/// An event emitted before gets no new deliveries: its id conflicts.
///
/// # Errors
/// Storage failures.
pub async fn emit<T: serde::Serialize>(
    env: &Env,
    db: &D1Database,
    request_id: &RequestId,
    event: &Envelope<'_, T>,
) -> Result<(), ApiError> {
    let statement = fan_out(db, event, None)?;
    run_and_enqueue(env, db, request_id, statement).await
}

async fn run_and_enqueue(
    env: &Env,
    db: &D1Database,
    request_id: &RequestId,
    statement: D1PreparedStatement,
) -> Result<(), ApiError> {
    let results = db.batch(vec![statement]).await?;
    let mut queued = Vec::new();
    for result in &results {
        queued.extend(written(result)?);
    }
    enqueue(env, request_id, &queued).await;
    Ok(())
}
