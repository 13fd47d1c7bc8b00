//! Metering storage: who an end user is for billing purposes (plan, limit, period source),
//! and the single conditional upsert that counts a call only while it stays within the limit.

use super::{first, int, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement};

/// What decides an end user's allowance: their active subscription's tier if any, else the
/// tier assigned to them, else the project's default tier.
#[derive(Clone, Debug, Deserialize)]
pub struct Allowance {
    /// The end user.
    pub end_user_id: String,
    /// The end user's token version (end-user tokens minted before it are revoked).
    pub token_version: i64,
    /// Start of the active subscription's period (ms), if subscribed.
    pub period_start: Option<i64>,
    /// End of the active subscription's period (ms), if subscribed.
    pub period_end: Option<i64>,
    /// The tier's name, if one applies.
    pub tier_name: Option<String>,
    /// The tier's limit (`NULL` = unlimited).
    pub usage_limit: Option<i64>,
}

/// Resolves the allowance of a live end user (by `cus_…` or external id) in one query.
/// Only `active` and `trialing` subscriptions count; a `past_due` one falls back to the
/// assigned or default tier.
///
/// # Errors
/// Storage failures.
pub async fn allowance(
    db: &D1Database,
    project_id: &str,
    end_user: &str,
) -> Result<Option<Allowance>, ApiError> {
    first(
        db,
        "WITH e AS (
           SELECT id, plan FROM end_users
           WHERE project_id = ?1 AND deleted_at IS NULL AND (id = ?2 OR external_id = ?2)
           ORDER BY id = ?2 DESC LIMIT 1
         ), s AS (
           SELECT tier_id, current_period_start, current_period_end FROM subscriptions
           WHERE project_id = ?1 AND end_user_id = (SELECT id FROM e) AND status IN ('active', 'trialing')
           ORDER BY current_period_end DESC LIMIT 1
         ), t AS (
           SELECT name, usage_limit FROM tiers
           WHERE project_id = ?1 AND archived_at IS NULL AND (
             id = (SELECT tier_id FROM s)
             OR (NOT EXISTS (SELECT 1 FROM s) AND name = (SELECT plan FROM e))
             OR (NOT EXISTS (SELECT 1 FROM s) AND is_default = 1)
           )
           ORDER BY id = (SELECT tier_id FROM s) DESC, name = (SELECT plan FROM e) DESC LIMIT 1
         )
         SELECT (SELECT id FROM e) AS end_user_id,
                (SELECT token_version FROM end_users WHERE id = (SELECT id FROM e)) AS token_version,
                (SELECT current_period_start FROM s) AS period_start,
                (SELECT current_period_end FROM s) AS period_end,
                (SELECT name FROM t) AS tier_name,
                (SELECT usage_limit FROM t) AS usage_limit
         WHERE EXISTS (SELECT 1 FROM e)",
        &[text(project_id), text(end_user)],
    )
    .await
}

/// One metered call, as a single statement: adds `cost` to the period's counter only if the
/// result stays within `ceiling`, and returns the new count — no row when refused. Because
/// the check and the increment are one atomic statement, N concurrent calls at the boundary
/// allow exactly as many as fit.
///
/// # Errors
/// Binding failures.
pub fn track(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
    period: tollgate::usage::Period,
    cost: u64,
    ceiling: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    let cost = i64::try_from(cost).unwrap_or(i64::MAX);
    stmt(
        db,
        "INSERT INTO usage_counters (project_id, end_user_id, period_start, period_end, count, updated_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE ?5 <= ?7
         ON CONFLICT (project_id, end_user_id, period_start) DO UPDATE
           SET count = usage_counters.count + excluded.count, updated_at = excluded.updated_at
           WHERE usage_counters.count + excluded.count <= ?7
         RETURNING count",
        &[text(project_id), text(end_user_id), int(period.start), int(period.end), int(cost), int(now), int(ceiling)],
    )
}

#[derive(Deserialize)]
struct CountRow {
    count: i64,
}

/// The counter of the period (0 when nothing was counted yet).
///
/// # Errors
/// Storage failures.
pub async fn count(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
    period_start: i64,
) -> Result<u64, ApiError> {
    let row: Option<CountRow> = first(
        db,
        "SELECT count FROM usage_counters WHERE project_id = ?1 AND end_user_id = ?2 AND period_start = ?3",
        &[text(project_id), text(end_user_id), int(period_start)],
    )
    .await?;
    Ok(row.map_or(0, |r| u64::try_from(r.count).unwrap_or(0)))
}

/// Runs a prepared [`track`] statement: the new count, or `None` when refused.
///
/// # Errors
/// Storage failures.
pub async fn apply(statement: D1PreparedStatement) -> Result<Option<u64>, ApiError> {
    let row: Option<CountRow> = statement.first(None).await?;
    Ok(row.map(|r| u64::try_from(r.count).unwrap_or(0)))
}
