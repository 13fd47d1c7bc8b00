//! `stripe_connections` and `oauth_states`: a platform's connected Stripe account per mode,
//! its tokens sealed at rest, and the single-use states of Connect round trips.

use super::{all, first, int, opt_text, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement};

/// A connection as stored (tokens sealed).
#[derive(Clone, Debug, Deserialize)]
pub struct ConnectionRow {
    /// Owner.
    pub platform_id: String,
    /// `test` or `live`.
    pub mode: String,
    /// `acct_…`
    pub account_id: String,
    /// AES-GCM sealed.
    pub access_token_enc: String,
    /// AES-GCM sealed.
    pub refresh_token_enc: Option<String>,
    /// Granted scope.
    pub scope: Option<String>,
    /// `connected` or `deauthorized`.
    pub status: String,
    /// First connected (ms).
    pub connected_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

const COLUMNS: &str = "platform_id, mode, account_id, access_token_enc, refresh_token_enc, scope, status, connected_at, updated_at";

/// The platform's connections (both modes, any status).
///
/// # Errors
/// Storage failures.
pub async fn list(db: &D1Database, platform_id: &str) -> Result<Vec<ConnectionRow>, ApiError> {
    all(
        db,
        &format!("SELECT {COLUMNS} FROM stripe_connections WHERE platform_id = ?1 ORDER BY mode"),
        &[text(platform_id)],
    )
    .await
}

/// The platform's usable connection in `mode`.
///
/// # Errors
/// Storage failures.
pub async fn connected(
    db: &D1Database,
    platform_id: &str,
    mode: &str,
) -> Result<Option<ConnectionRow>, ApiError> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM stripe_connections WHERE platform_id = ?1 AND mode = ?2 AND status = 'connected'"),
        &[text(platform_id), text(mode)],
    )
    .await
}

/// The platform that holds `account_id` in `mode` (connected), if any.
///
/// # Errors
/// Storage failures.
pub async fn owner(
    db: &D1Database,
    account_id: &str,
    mode: &str,
) -> Result<Option<String>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        platform_id: String,
    }
    let row: Option<Row> = first(
        db,
        "SELECT platform_id FROM stripe_connections WHERE account_id = ?1 AND mode = ?2 AND status = 'connected'",
        &[text(account_id), text(mode)],
    )
    .await?;
    Ok(row.map(|r| r.platform_id))
}

/// The statements that connect `row`'s account: a stale, deauthorized hold of the same account
/// by another platform is dropped, then the platform's connection for the mode is replaced.
///
/// # Errors
/// Binding failures.
pub fn connect(db: &D1Database, row: &ConnectionRow) -> Result<Vec<D1PreparedStatement>, ApiError> {
    Ok(vec![
        stmt(
            db,
            "DELETE FROM stripe_connections WHERE account_id = ?1 AND mode = ?2 AND platform_id <> ?3 AND status = 'deauthorized'",
            &[
                text(&row.account_id),
                text(&row.mode),
                text(&row.platform_id),
            ],
        )?,
        stmt(
            db,
            "INSERT INTO stripe_connections (platform_id, mode, account_id, access_token_enc, refresh_token_enc, scope, status, connected_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'connected', ?7, ?7) \
             ON CONFLICT (platform_id, mode) DO UPDATE SET account_id = excluded.account_id, access_token_enc = excluded.access_token_enc, \
             refresh_token_enc = excluded.refresh_token_enc, scope = excluded.scope, status = 'connected', \
             connected_at = excluded.connected_at, updated_at = excluded.updated_at",
            &[
                text(&row.platform_id),
                text(&row.mode),
                text(&row.account_id),
                text(&row.access_token_enc),
                opt_text(row.refresh_token_enc.as_deref()),
                opt_text(row.scope.as_deref()),
                int(row.connected_at),
            ],
        )?,
    ])
}

/// Marks the platform's connection in `mode` deauthorized.
///
/// # Errors
/// Binding failures.
pub fn deauthorize(
    db: &D1Database,
    platform_id: &str,
    mode: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE stripe_connections SET status = 'deauthorized', updated_at = ?3 WHERE platform_id = ?1 AND mode = ?2 AND status = 'connected'",
        &[text(platform_id), text(mode), int(now)],
    )
}

/// Records an issued state (and sweeps expired ones).
///
/// # Errors
/// Binding failures.
pub fn save_state(
    db: &D1Database,
    state: &str,
    platform_id: &str,
    mode: &str,
    now: i64,
    expires_at: i64,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    Ok(vec![
        stmt(
            db,
            "DELETE FROM oauth_states WHERE expires_at <= ?1",
            &[int(now)],
        )?,
        stmt(
            db,
            "INSERT INTO oauth_states (state, platform_id, mode, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                text(state),
                text(platform_id),
                text(mode),
                int(now),
                int(expires_at),
            ],
        )?,
    ])
}

/// Who a state was issued to.
#[derive(Clone, Debug, Deserialize)]
pub struct StateOwner {
    /// The developer's platform.
    pub platform_id: String,
    /// The mode being connected.
    pub mode: String,
}

/// Consumes an unexpired state: one statement, so two callbacks racing with the same state
/// cannot both get it.
///
/// # Errors
/// Storage failures.
pub async fn take_state(
    db: &D1Database,
    state: &str,
    now: i64,
) -> Result<Option<StateOwner>, ApiError> {
    first(
        db,
        "DELETE FROM oauth_states WHERE state = ?1 AND expires_at > ?2 RETURNING platform_id, mode",
        &[text(state), int(now)],
    )
    .await
}
