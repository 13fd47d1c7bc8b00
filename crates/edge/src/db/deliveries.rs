//! `webhook_deliveries`: one row per event and endpoint — the outbox the queue consumer works
//! from. Every state change is guarded by the row's status and attempt count, so duplicate
//! queue messages (Queues delivers at least once) can neither attempt twice nor undo a result.

use super::{Count, all, first, int, opt_text, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::outbound::{DeliveryFilter, MAX_ENDPOINTS};
use tollgate::paging::Page;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// One event about to fan out to a project's endpoints.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The project.
    pub project_id: &'a str,
    /// `evt_…`
    pub event_id: &'a str,
    /// The event type.
    pub event_type: &'a str,
    /// The body every delivery sends.
    pub payload: &'a str,
    /// When it was queued (ms).
    pub now: i64,
    /// Retried until then (ms).
    pub deadline: i64,
}

/// The statement that writes one pending delivery per enabled endpoint of the project
/// subscribed to the event's type, skipping endpoints that already have this event, and
/// returns the new deliveries' ids. With `guard` (an SQL condition over `?8…`, bound to the
/// given values), it writes nothing unless the guard holds when the batch reaches it, so an
/// event is only reported for a change that really happened.
///
/// # Errors
/// Binding failures.
pub fn fan_out(
    db: &D1Database,
    event: &Outgoing<'_>,
    guard: Option<(&str, Vec<JsValue>)>,
) -> Result<D1PreparedStatement, ApiError> {
    // One fresh id per possible endpoint, picked by row number: the statement stays one
    // INSERT … SELECT however many endpoints subscribe.
    let ids: Vec<String> = (0..MAX_ENDPOINTS)
        .map(|_| tollgate::ids::new_id("whd"))
        .collect();
    let (condition, extra) = guard.unwrap_or(("1", Vec::new()));
    let sql = format!(
        "INSERT INTO webhook_deliveries (id, project_id, endpoint_id, event_id, event_type, payload, status, attempts, \
           next_attempt_at, deadline_at, created_at, updated_at) \
         SELECT json_extract(?1, '$[' || (e.n - 1) || ']'), ?2, e.id, ?3, ?4, ?5, 'pending', 0, ?6, ?7, ?6, ?6 \
         FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM webhook_endpoints w \
               WHERE w.project_id = ?2 AND w.status = 'enabled' AND w.deleted_at IS NULL \
                 AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value IN ('*', ?4))) AS e \
         WHERE e.n <= {MAX_ENDPOINTS} AND ({condition}) \
         ON CONFLICT (endpoint_id, event_id) DO NOTHING \
         RETURNING id"
    );
    let mut params = vec![
        text(&serde_json::to_string(&ids)?),
        text(event.project_id),
        text(event.event_id),
        text(event.event_type),
        text(event.payload),
        int(event.now),
        int(event.deadline),
    ];
    params.extend(extra);
    stmt(db, &sql, &params)
}

/// The statement that writes one pending delivery of `event` to one endpoint, whatever it
/// subscribes to, only while that endpoint is enabled; returns the delivery's id (none when
/// the endpoint was disabled or deleted meanwhile).
///
/// # Errors
/// Binding failures.
pub fn to_endpoint(
    db: &D1Database,
    event: &Outgoing<'_>,
    endpoint_id: &str,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "INSERT INTO webhook_deliveries (id, project_id, endpoint_id, event_id, event_type, payload, status, attempts, \
           next_attempt_at, deadline_at, created_at, updated_at) \
         SELECT ?1, ?2, id, ?4, ?5, ?6, 'pending', 0, ?7, ?8, ?7, ?7 FROM webhook_endpoints \
         WHERE id = ?3 AND project_id = ?2 AND status = 'enabled' AND deleted_at IS NULL \
         RETURNING id, attempts",
        &[
            text(&tollgate::ids::new_id("whd")),
            text(event.project_id),
            text(endpoint_id),
            text(event.event_id),
            text(event.event_type),
            text(event.payload),
            int(event.now),
            int(event.deadline),
        ],
    )
}

/// A delivery as the developer sees it.
#[derive(Clone, Debug, Deserialize)]
pub struct DeliveryRow {
    /// `whd_…`
    pub id: String,
    /// The project.
    pub project_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// `evt_…`
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The body sent.
    pub payload: String,
    /// Where it stands.
    pub status: tollgate::outbound::DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (ms).
    pub next_attempt_at: Option<i64>,
    /// When the last attempt ran (ms).
    pub last_attempt_at: Option<i64>,
    /// The receiver's last status code.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Retried until then (ms).
    pub deadline_at: i64,
    /// When it was delivered (ms).
    pub delivered_at: Option<i64>,
    /// When it was queued (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

const COLUMNS: &str = "id, project_id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at, \
     last_attempt_at, last_status_code, last_error, deadline_at, delivered_at, created_at, updated_at";

/// A page of the project's deliveries, newest first, narrowed by `filter`, and the total.
///
/// # Errors
/// Storage failures.
pub async fn list(
    db: &D1Database,
    project_id: &str,
    filter: &DeliveryFilter,
    page: Page,
) -> Result<(Vec<DeliveryRow>, u64), ApiError> {
    let condition = "project_id = ?1 AND (?2 IS NULL OR endpoint_id = ?2) AND (?3 IS NULL OR status = ?3) \
         AND (?4 IS NULL OR event_type = ?4)";
    let scope = [
        text(project_id),
        opt_text(filter.endpoint_id.as_deref()),
        opt_text(filter.status.as_deref()),
        opt_text(filter.event_type.as_deref()),
    ];
    let mut params = scope.to_vec();
    params.push(int(page.page_size.into()));
    params.push(int(page.offset().into()));
    let rows = all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM webhook_deliveries WHERE {condition} ORDER BY created_at DESC, id DESC LIMIT ?5 OFFSET ?6"
        ),
        &params,
    )
    .await?;
    let total = first::<Count>(
        db,
        &format!("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE {condition}"),
        &scope,
    )
    .await?
    .map_or(0, |c| c.n);
    Ok((rows, total))
}

/// One of the project's deliveries.
///
/// # Errors
/// Storage failures.
pub async fn get(
    db: &D1Database,
    project_id: &str,
    id: &str,
) -> Result<Option<DeliveryRow>, ApiError> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM webhook_deliveries WHERE project_id = ?1 AND id = ?2"),
        &[text(project_id), text(id)],
    )
    .await
}

/// What the consumer needs for one attempt: the delivery and its endpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Attempt {
    /// `whd_…`
    pub id: String,
    /// `whe_…`: the row its secrets are sealed for.
    pub endpoint_id: String,
    /// `evt_…`
    pub event_id: String,
    /// The body.
    pub payload: String,
    /// Where it stands.
    pub status: tollgate::outbound::DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i64,
    /// Retried until then (ms).
    pub deadline_at: i64,
    /// Where to send it.
    pub url: String,
    /// Whether the endpoint receives deliveries.
    pub endpoint_status: tollgate::outbound::EndpointStatus,
    /// Set when the endpoint was deleted.
    pub endpoint_deleted_at: Option<i64>,
    /// The signing secret, sealed.
    pub secret_enc: String,
    /// The previous secret, sealed, during a rotation's grace period.
    pub previous_secret_enc: Option<String>,
    /// Until when the previous secret signs (ms).
    pub previous_secret_expires_at: Option<i64>,
}

/// The delivery with its endpoint, by id.
///
/// # Errors
/// Storage failures.
pub async fn attempt(db: &D1Database, id: &str) -> Result<Option<Attempt>, ApiError> {
    first(
        db,
        "SELECT d.id, d.endpoint_id, d.event_id, d.payload, d.status, d.attempts, d.deadline_at, e.url, e.status AS endpoint_status, \
           e.deleted_at AS endpoint_deleted_at, e.secret_enc, e.previous_secret_enc, e.previous_secret_expires_at \
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ?1",
        &[text(id)],
    )
    .await
}

/// Claims attempt number `attempts + 1`: only one message holding the current count wins.
/// The lease (`next_attempt_at`) keeps the sweep away while the attempt runs.
///
/// # Errors
/// Storage failures.
pub async fn claim(
    db: &D1Database,
    id: &str,
    attempts: i64,
    lease_until: i64,
    now: i64,
) -> Result<bool, ApiError> {
    let result = stmt(
        db,
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?3, next_attempt_at = ?4, updated_at = ?3 \
         WHERE id = ?1 AND status = 'pending' AND attempts = ?2",
        &[text(id), int(attempts), int(now), int(lease_until)],
    )?
    .run()
    .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

fn opt_int(value: Option<i64>) -> JsValue {
    value.map_or(JsValue::NULL, int)
}

/// The receiver acknowledged: delivered.
///
/// # Errors
/// Storage failures.
pub async fn delivered(
    db: &D1Database,
    id: &str,
    status_code: i64,
    now: i64,
) -> Result<(), ApiError> {
    stmt(
        db,
        "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = ?3, last_status_code = ?2, last_error = NULL, \
           next_attempt_at = NULL, updated_at = ?3 WHERE id = ?1 AND status = 'pending'",
        &[text(id), int(status_code), int(now)],
    )?
    .run()
    .await?;
    Ok(())
}

/// A failed attempt to be retried at `next_at`, recorded only while no other attempt moved
/// the row on. Returns whether it was recorded (and so whether to queue the retry).
///
/// # Errors
/// Storage failures.
pub async fn retry_later(
    db: &D1Database,
    id: &str,
    attempts: i64,
    status_code: Option<i64>,
    error: &str,
    next_at: i64,
    now: i64,
) -> Result<bool, ApiError> {
    let result = stmt(
        db,
        "UPDATE webhook_deliveries SET last_status_code = ?3, last_error = ?4, next_attempt_at = ?5, updated_at = ?6 \
         WHERE id = ?1 AND status = 'pending' AND attempts = ?2",
        &[
            text(id),
            int(attempts),
            opt_int(status_code),
            text(error),
            int(next_at),
            int(now),
        ],
    )?
    .run()
    .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

/// The delivery has failed for good (its window closed, or its endpoint is gone).
///
/// # Errors
/// Storage failures.
pub async fn fail(
    db: &D1Database,
    id: &str,
    status_code: Option<i64>,
    error: &str,
    now: i64,
) -> Result<(), ApiError> {
    stmt(
        db,
        "UPDATE webhook_deliveries SET status = 'failed', last_status_code = COALESCE(?2, last_status_code), last_error = ?3, \
           next_attempt_at = NULL, updated_at = ?4 WHERE id = ?1 AND status = 'pending'",
        &[text(id), opt_int(status_code), text(error), int(now)],
    )?
    .run()
    .await?;
    Ok(())
}

/// Puts a delivery back in line now, with a new 24 h window; returns its attempt count
/// (the message's expectation) in the batch's results.
///
/// # Errors
/// Binding failures.
pub fn resend(
    db: &D1Database,
    project_id: &str,
    id: &str,
    deadline: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?3, deadline_at = ?4, delivered_at = NULL, updated_at = ?3 \
         WHERE project_id = ?1 AND id = ?2 RETURNING id, attempts",
        &[text(project_id), text(id), int(now), int(deadline)],
    )
}

/// A delivery to put on the queue, with the attempt count its message expects.
#[derive(Clone, Debug, Deserialize)]
pub struct Queued {
    /// `whd_…`
    pub id: String,
    /// Attempts made so far.
    #[serde(default)]
    pub attempts: i64,
}

/// Pending deliveries whose attempt is overdue by more than the grace (a lost queue send, a
/// consumer that died mid-attempt), at most `limit`, moved to `now` and returned so the
/// sweep can queue them again.
///
/// # Errors
/// Storage failures.
pub async fn overdue(
    db: &D1Database,
    before: i64,
    now: i64,
    limit: i64,
) -> Result<Vec<Queued>, ApiError> {
    all(
        db,
        "UPDATE webhook_deliveries SET next_attempt_at = ?2, updated_at = ?2 WHERE id IN ( \
           SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at < ?1 ORDER BY next_attempt_at LIMIT ?3) \
         RETURNING id, attempts",
        &[int(before), int(now), int(limit)],
    )
    .await
}
