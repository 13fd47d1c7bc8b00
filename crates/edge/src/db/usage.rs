//! Metering storage: who an end user is for billing purposes (plan, limit, period source),
//! the counters the metering objects flush to the ledger, and the ledger's count of a period
//! (what an object starts a period from).

use super::{first, int, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement};

/// What decides an end user's allowance (the core's type: the object judges by it).
pub use tollgate::meter::Allowance;

/// The CTEs both metering statements resolve an end user with, so the answer and the count
/// can never disagree: `e` the live end user (by `cus_…` or external id), `s` their active
/// or trialing subscription (`ps`/`pe` its period), `t` the tier that applies — the
/// subscription's (even archived: archiving stops new sales, not what subscribers paid
/// for), else the assigned one, else the project's default. Binds ?1 (project)
/// and ?2 (end user).
macro_rules! resolve_end_user {
    () => {
        concat!("WITH e AS (
           SELECT id, plan, token_version FROM end_users
           WHERE project_id = ?1 AND deleted_at IS NULL AND (id = ?2 OR external_id = ?2)
           ORDER BY id = ?2 DESC LIMIT 1
         ), s AS (
           SELECT tier_id, current_period_start AS ps, current_period_end AS pe FROM subscriptions
           WHERE project_id = ?1 AND end_user_id = (SELECT id FROM e) AND status IN ",
        giving_access!(),
        "
           ORDER BY current_period_end DESC LIMIT 1
         ), t AS (
           SELECT name, usage_limit FROM tiers
           WHERE project_id = ?1 AND (
             id = (SELECT tier_id FROM s)
             OR (archived_at IS NULL AND NOT EXISTS (SELECT 1 FROM s) AND name = (SELECT plan FROM e))
             OR (archived_at IS NULL AND NOT EXISTS (SELECT 1 FROM s) AND is_default = 1)
           )
           ORDER BY id = (SELECT tier_id FROM s) DESC, name = (SELECT plan FROM e) DESC LIMIT 1
         )")
    };
}

const ALLOWANCE: &str = concat!(
    resolve_end_user!(),
    "
         SELECT (SELECT id FROM e) AS end_user_id,
                (SELECT token_version FROM e) AS token_version,
                (SELECT ps FROM s) AS period_start,
                (SELECT pe FROM s) AS period_end,
                (SELECT name FROM t) AS tier_name,
                (SELECT usage_limit FROM t) AS usage_limit
         WHERE EXISTS (SELECT 1 FROM e)"
);

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
    first(db, ALLOWANCE, &[text(project_id), text(end_user)]).await
}

/// SQL for the start of the period a call counts in, where `s.ps`..`s.pe` is the end user's
/// active or trialing subscription's period (NULL without one), ?3 the calendar month's start
/// and ?5 now: the subscription's period, rolled forward by its own length once it ended,
/// else the calendar month. The metered call and the dashboard share it, so "this period"
/// means the same counter to both.
macro_rules! period_start {
    () => {
        "CASE WHEN s.pe IS NULL OR s.pe <= s.ps THEN ?3
         WHEN ?5 < s.pe THEN s.ps
         ELSE s.pe + ((?5 - s.pe) / MAX(s.pe - s.ps, 86400000)) * MAX(s.pe - s.ps, 86400000) END"
    };
}
pub(crate) use period_start;

/// One counter total a metering object flushes: an absolute count, applied only if it is
/// larger than what the ledger holds, so a flush retried after it committed changes nothing.
/// A deleted end user's counters are not brought back (their usage went with them). The
/// ledger's triggers turn the growth into the per-day tallies (migrations 0017, 0020, 0021),
/// filed under the day of `updated_at`. Binds ?1 project, ?2 end user, ?3 period start, ?4
/// period end, ?5 count, ?6 a time within the day the units were counted.
const FLUSH: &str = "INSERT INTO usage_counters (project_id, end_user_id, period_start, period_end, count, updated_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?6
WHERE EXISTS (SELECT 1 FROM end_users WHERE project_id = ?1 AND id = ?2 AND deleted_at IS NULL)
ON CONFLICT (project_id, end_user_id, period_start) DO UPDATE
  SET count = excluded.count, updated_at = excluded.updated_at
  WHERE excluded.count > usage_counters.count";

/// The statements of one flush (run them as one batch: one round trip, all or nothing).
///
/// # Errors
/// When a statement cannot be bound.
pub fn flush(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
    rows: &[tollgate::meter::FlushRow],
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    rows.iter()
        .map(|row| {
            stmt(
                db,
                FLUSH,
                &[
                    text(project_id),
                    text(end_user_id),
                    int(row.period_start),
                    int(row.period_end),
                    int(i64::try_from(row.count).unwrap_or(i64::MAX)),
                    int(row.at),
                ],
            )
        })
        .collect()
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
