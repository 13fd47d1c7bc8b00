//! `operator_settings`: facts Tollgate keeps about itself (the developer plan's Stripe price).

use super::{first, int, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement};

/// The setting `name`, if stored.
///
/// # Errors
/// Storage failures.
pub async fn setting(db: &D1Database, name: &str) -> Result<Option<String>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        value: String,
    }
    let row: Option<Row> = first(
        db,
        "SELECT value FROM operator_settings WHERE name = ?1",
        &[text(name)],
    )
    .await?;
    Ok(row.map(|r| r.value))
}

/// Stores `value` under `name` unless one is there already (the first writer wins, so
/// concurrent first uses agree on one value once they read it back).
///
/// # Errors
/// Binding failures.
pub fn remember(
    db: &D1Database,
    name: &str,
    value: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "INSERT INTO operator_settings (name, value, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
        &[text(name), text(value), int(now)],
    )
}
