//! `idempotency_keys`: claim a key before a write, record the answer in the write's batch,
//! replay it afterwards. The primary key (scope, key) makes the claim atomic.

use super::{first, int, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::idempotency::CLAIM_LEASE_MS;
use worker::{D1Database, D1PreparedStatement};

/// A stored key record.
#[derive(Clone, Debug, Deserialize)]
pub struct Record {
    /// Request fingerprint.
    pub fingerprint: String,
    /// `in_flight` or `completed`.
    pub status: String,
    /// The recorded status, once completed.
    pub response_status: Option<i64>,
    /// The recorded body (sealed when it holds a secret).
    pub response_body: Option<String>,
    /// When the first request claimed the key (ms).
    pub created_at: i64,
}

/// Tries to claim `key` in `scope`; `true` when this request owns it now. An expired record,
/// or the same request's claim whose lease ran out unanswered, is taken over in the same
/// statement.
///
/// # Errors
/// Storage failures.
pub async fn claim(
    db: &D1Database,
    scope: &str,
    key: &str,
    fingerprint: &str,
    now: i64,
    expires_at: i64,
) -> Result<bool, ApiError> {
    let result = stmt(
        db,
        "INSERT INTO idempotency_keys (scope, key, fingerprint, status, created_at, expires_at) VALUES (?1, ?2, ?3, 'in_flight', ?4, ?5) \
         ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = 'in_flight', response_status = NULL, \
         response_body = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at \
         WHERE idempotency_keys.expires_at <= excluded.created_at \
         OR (idempotency_keys.status = 'in_flight' AND idempotency_keys.created_at <= ?6 \
         AND idempotency_keys.fingerprint = excluded.fingerprint)",
        &[
            text(scope),
            text(key),
            text(fingerprint),
            int(now),
            int(expires_at),
            int(now - CLAIM_LEASE_MS),
        ],
    )?
    .run()
    .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

/// The record someone else holds.
///
/// # Errors
/// Storage failures.
pub async fn get(db: &D1Database, scope: &str, key: &str) -> Result<Option<Record>, ApiError> {
    first(
        db,
        "SELECT fingerprint, status, response_status, response_body, created_at FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
        &[text(scope), text(key)],
    )
    .await
}

/// Records the answer; part of the write's batch so the record and the write land together.
///
/// # Errors
/// Binding failures.
pub fn complete(
    db: &D1Database,
    scope: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE idempotency_keys SET status = 'completed', response_status = ?1, response_body = ?2 WHERE scope = ?3 AND key = ?4",
        &[int(status.into()), text(body), text(scope), text(key)],
    )
}

/// Gives up a claim after a failed request, so a retry may run.
///
/// # Errors
/// Storage failures.
pub async fn release(db: &D1Database, scope: &str, key: &str) -> Result<(), ApiError> {
    stmt(
        db,
        "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND status = 'in_flight'",
        &[text(scope), text(key)],
    )?
    .run()
    .await?;
    Ok(())
}

/// Drops a key whatever its state: for an answer recorded in a batch whose guarded write
/// turned out to change nothing, so a retry runs instead of replaying it.
///
/// # Errors
/// Storage failures.
pub async fn forget(db: &D1Database, scope: &str, key: &str) -> Result<(), ApiError> {
    stmt(
        db,
        "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
        &[text(scope), text(key)],
    )?
    .run()
    .await?;
    Ok(())
}
