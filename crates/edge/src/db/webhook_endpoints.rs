//! `webhook_endpoints`: where a project's outbound webhooks go. Secrets are stored sealed;
//! edits are guarded by `updated_at`; a delete is soft and wipes the secret.

use super::{Count, all, first, int, opt_text, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::outbound::{EndpointSpec, EndpointStatus};
use tollgate::paging::Page;
use worker::{D1Database, D1PreparedStatement};

/// An endpoint as stored (the sealed secrets stay out of views).
#[derive(Clone, Debug, Deserialize)]
pub struct EndpointRow {
    /// `whe_…`
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Where deliveries go.
    pub url: String,
    /// The developer's note.
    pub description: Option<String>,
    /// JSON array of event types, or `["*"]`.
    pub events: String,
    /// Whether it receives deliveries.
    pub status: EndpointStatus,
    /// The signing secret, sealed.
    pub secret_enc: String,
    /// The secret's last four characters.
    pub secret_last4: String,
    /// The secret before the last rotation, sealed, while it still signs.
    pub previous_secret_enc: Option<String>,
    /// Until when the previous secret signs (ms).
    pub previous_secret_expires_at: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl EndpointRow {
    /// The stored endpoint as a spec, for edits to overlay.
    #[must_use]
    pub fn spec(&self) -> EndpointSpec {
        EndpointSpec {
            url: self.url.clone(),
            events: serde_json::from_str(&self.events).unwrap_or_default(),
            description: self.description.clone(),
            status: self.status,
        }
    }
}

const COLUMNS: &str = "id, project_id, url, description, events, status, secret_enc, secret_last4, \
     previous_secret_enc, previous_secret_expires_at, created_at, updated_at";

/// The insert of a new endpoint. When the project already has `max` endpoints the row's
/// status becomes a value the CHECK constraint refuses, so the whole batch — audit row and
/// idempotency record included — fails atomically (see [`is_over_limit`]) even when two
/// creates race.
///
/// # Errors
/// Binding failures.
pub fn insert(
    db: &D1Database,
    row: &EndpointRow,
    max: usize,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "INSERT INTO webhook_endpoints (id, project_id, url, description, events, status, secret_enc, secret_last4, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, \
           CASE WHEN (SELECT COUNT(*) FROM webhook_endpoints WHERE project_id = ?2 AND deleted_at IS NULL) < ?10 \
             THEN ?6 ELSE 'over_limit' END, \
           ?7, ?8, ?9, ?9)",
        &[
            text(&row.id),
            text(&row.project_id),
            text(&row.url),
            opt_text(row.description.as_deref()),
            text(&row.events),
            text(row.status.as_str()),
            text(&row.secret_enc),
            text(&row.secret_last4),
            int(row.created_at),
            int(i64::try_from(max).unwrap_or(i64::MAX)),
        ],
    )
}

/// Whether a failed create batch failed on the endpoint limit.
#[must_use]
pub fn is_over_limit(error: &ApiError) -> bool {
    error.violation() == Some(super::Violation::Check)
}

/// How many live endpoints the project has.
///
/// # Errors
/// Storage failures.
pub async fn count(db: &D1Database, project_id: &str) -> Result<u64, ApiError> {
    Ok(first::<Count>(
        db,
        "SELECT COUNT(*) AS n FROM webhook_endpoints WHERE project_id = ?1 AND deleted_at IS NULL",
        &[text(project_id)],
    )
    .await?
    .map_or(0, |c| c.n))
}

/// A live endpoint of the project.
///
/// # Errors
/// Storage failures.
pub async fn get(
    db: &D1Database,
    project_id: &str,
    id: &str,
) -> Result<Option<EndpointRow>, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE project_id = ?1 AND id = ?2 AND deleted_at IS NULL"
    );
    first(db, &sql, &[text(project_id), text(id)]).await
}

/// A page of the project's live endpoints, oldest first, and the total.
///
/// # Errors
/// Storage failures.
pub async fn list(
    db: &D1Database,
    project_id: &str,
    page: Page,
) -> Result<(Vec<EndpointRow>, u64), ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE project_id = ?1 AND deleted_at IS NULL \
         ORDER BY created_at, id LIMIT ?2 OFFSET ?3"
    );
    let rows = all(
        db,
        &sql,
        &[
            text(project_id),
            int(page.page_size.into()),
            int(page.offset().into()),
        ],
    )
    .await?;
    Ok((rows, count(db, project_id).await?))
}

/// The edit, applied only while `updated_at` is still `expected`.
///
/// # Errors
/// Binding failures.
pub fn update(
    db: &D1Database,
    project_id: &str,
    id: &str,
    spec: &EndpointSpec,
    expected: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE webhook_endpoints SET url = ?3, events = ?4, description = ?5, status = ?6, updated_at = ?7 \
         WHERE project_id = ?1 AND id = ?2 AND updated_at = ?8 AND deleted_at IS NULL",
        &[
            text(project_id),
            text(id),
            text(&spec.url),
            text(&spec.events_json()),
            opt_text(spec.description.as_deref()),
            text(spec.status.as_str()),
            int(now),
            int(expected),
        ],
    )
}

/// A new secret; the current one keeps signing until `previous_until` (or stops now, when
/// that is `now`). Guarded by `updated_at`, so two racing rotations cannot both win.
///
/// # Errors
/// Binding failures.
#[expect(
    clippy::too_many_arguments,
    reason = "one rotation's facts, each needed"
)]
pub fn rotate(
    db: &D1Database,
    project_id: &str,
    id: &str,
    secret_enc: &str,
    last4: &str,
    previous_until: i64,
    expected: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE webhook_endpoints SET \
           previous_secret_enc = CASE WHEN ?6 > ?7 THEN secret_enc END, \
           previous_secret_expires_at = CASE WHEN ?6 > ?7 THEN ?6 END, \
           secret_enc = ?3, secret_last4 = ?4, updated_at = ?7 \
         WHERE project_id = ?1 AND id = ?2 AND updated_at = ?5 AND deleted_at IS NULL",
        &[
            text(project_id),
            text(id),
            text(secret_enc),
            text(last4),
            int(expected),
            int(previous_until),
            int(now),
        ],
    )
}

/// The soft delete: no more deliveries, and both secrets wiped.
///
/// # Errors
/// Binding failures.
pub fn delete(
    db: &D1Database,
    project_id: &str,
    id: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE webhook_endpoints SET deleted_at = ?3, updated_at = ?3, status = 'disabled', secret_enc = '', \
           previous_secret_enc = NULL, previous_secret_expires_at = NULL \
         WHERE project_id = ?1 AND id = ?2 AND deleted_at IS NULL",
        &[text(project_id), text(id), int(now)],
    )
}
