//! `platforms`: one per developer identity, created by the first authenticated call.

use super::{first, int, opt_text, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use worker::D1Database;

/// A platform as stored.
#[derive(Clone, Debug, Deserialize)]
pub struct PlatformRow {
    /// `plt_…`
    pub id: String,
    /// The developer's email at their last sign-in, if shared.
    pub email: Option<String>,
    /// The developer's own Tollgate subscription state.
    pub billing_status: String,
    /// Their customer on Tollgate's own Stripe account, once made.
    pub billing_customer_id: Option<String>,
    /// When the paid period ends (ms).
    pub current_period_end: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
}

const SELECT: &str = "SELECT id, email, billing_status, billing_customer_id, current_period_end, created_at FROM platforms WHERE issuer = ?1 AND subject = ?2";

/// The developer's platform, created on first use. Two concurrent first calls create one:
/// the insert does nothing on conflict and both read the surviving row.
///
/// # Errors
/// Storage failures.
pub async fn ensure(
    db: &D1Database,
    issuer: &str,
    subject: &str,
    email: Option<&str>,
    now: i64,
) -> Result<PlatformRow, ApiError> {
    if let Some(row) = first::<PlatformRow>(db, SELECT, &[text(issuer), text(subject)]).await? {
        return Ok(row);
    }
    stmt(
        db,
        "INSERT INTO platforms (id, issuer, subject, email, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
         ON CONFLICT (issuer, subject) DO NOTHING",
        &[text(&tollgate::ids::new_id("plt")), text(issuer), text(subject), opt_text(email), int(now)],
    )?
    .run()
    .await?;
    first::<PlatformRow>(db, SELECT, &[text(issuer), text(subject)])
        .await?
        .ok_or_else(|| ApiError::internal("platform vanished right after its insert"))
}

/// The developer identity (`subject`) behind a platform, for audit events written outside a
/// signed-in request (Stripe's redirect back).
///
/// # Errors
/// Storage failures.
pub async fn subject_of(db: &D1Database, platform_id: &str) -> Result<Option<String>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        subject: String,
    }
    let row: Option<Row> = first(
        db,
        "SELECT subject FROM platforms WHERE id = ?1",
        &[text(platform_id)],
    )
    .await?;
    Ok(row.map(|r| r.subject))
}

/// Remembers the developer's customer on Tollgate's own Stripe account (only if none yet).
///
/// # Errors
/// Binding failures.
pub fn set_billing_customer(
    db: &D1Database,
    platform_id: &str,
    customer: &str,
    now: i64,
) -> Result<worker::D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE platforms SET billing_customer_id = ?2, updated_at = ?3 WHERE id = ?1 AND billing_customer_id IS NULL",
        &[text(platform_id), text(customer), int(now)],
    )
}
