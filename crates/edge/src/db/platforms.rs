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
    /// Creation time (ms).
    pub created_at: i64,
}

const SELECT: &str = "SELECT id, email, billing_status, created_at FROM platforms WHERE issuer = ?1 AND subject = ?2";

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
