//! Metering storage: who an end user is for billing purposes (plan, limit, period source),
//! the single conditional upsert that counts a call only while it stays within the limit, and
//! the per-day tally of what it counted (the dashboard's usage series).

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

/// The CTEs both metering statements resolve an end user with, so the answer and the count
/// can never disagree: `e` the live end user (by `cus_…` or external id), `s` their active
/// or trialing subscription (`ps`/`pe` its period), `t` the tier that applies — the
/// subscription's (even archived: archiving stops new sales, not what subscribers paid
/// for), else the assigned one, else the project's default. Binds ?1 (project)
/// and ?2 (end user).
macro_rules! resolve_end_user {
    () => {
        "WITH e AS (
           SELECT id, plan, token_version FROM end_users
           WHERE project_id = ?1 AND deleted_at IS NULL AND (id = ?2 OR external_id = ?2)
           ORDER BY id = ?2 DESC LIMIT 1
         ), s AS (
           SELECT tier_id, current_period_start AS ps, current_period_end AS pe FROM subscriptions
           WHERE project_id = ?1 AND end_user_id = (SELECT id FROM e) AND status IN ('active', 'trialing')
           ORDER BY current_period_end DESC LIMIT 1
         ), t AS (
           SELECT name, usage_limit FROM tiers
           WHERE project_id = ?1 AND (
             id = (SELECT tier_id FROM s)
             OR (archived_at IS NULL AND NOT EXISTS (SELECT 1 FROM s) AND name = (SELECT plan FROM e))
             OR (archived_at IS NULL AND NOT EXISTS (SELECT 1 FROM s) AND is_default = 1)
           )
           ORDER BY id = (SELECT tier_id FROM s) DESC, name = (SELECT plan FROM e) DESC LIMIT 1
         )"
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

/// The metered call with everything resolved inside one statement: the end user, their
/// subscription's tier (else assigned, else default), the period (the subscription's, rolled
/// forward when it ended; else the calendar month passed in), and — for a token — that the
/// token version is current. It counts only if all of that holds and the result stays within
/// the limit, and returns the new count; no row when it counted nothing.
const TRACK: &str = concat!(
    resolve_end_user!(),
    ", p AS (
  SELECT
    ",
    period_start!(),
    " AS start,
    CASE WHEN s.pe IS NULL OR s.pe <= s.ps THEN ?4
         WHEN ?5 < s.pe THEN s.pe
         ELSE s.pe + ((?5 - s.pe) / MAX(s.pe - s.ps, 86400000) + 1) * MAX(s.pe - s.ps, 86400000) END AS end_
  FROM (SELECT 1) LEFT JOIN s
), c AS (
  SELECT (SELECT id FROM e) AS end_user_id, p.start, p.end_,
         COALESCE((SELECT usage_limit FROM t), 9007199254740991) AS ceiling
  FROM p
)
INSERT INTO usage_counters (project_id, end_user_id, period_start, period_end, count, updated_at)
SELECT ?1, c.end_user_id, c.start, c.end_, ?6, ?5 FROM c
WHERE c.end_user_id IS NOT NULL AND EXISTS (SELECT 1 FROM t) AND ?6 <= c.ceiling
  AND (?7 IS NULL OR (SELECT token_version FROM e) = ?7)
ON CONFLICT (project_id, end_user_id, period_start) DO UPDATE
  SET count = usage_counters.count + excluded.count, updated_at = excluded.updated_at
  WHERE usage_counters.count + excluded.count <= (SELECT ceiling FROM c)
RETURNING count"
);

/// Adds the units of the statement just before it in the batch (TRACK) to the project's
/// day, only when that statement changed a row: `changes()` is the number of rows the
/// previous statement of the same connection changed, and a call refused at the limit
/// changes none (its insert selects nothing, its upsert's `WHERE` fails). A check-only call
/// (cost 0) adds nothing either. Binds ?1 (project), ?2 (UTC day, ms), ?3 (units).
const COUNT_DAY: &str = "INSERT INTO usage_days (project_id, day, count)
SELECT ?1, ?2, ?3 WHERE changes() > 0 AND ?3 > 0
ON CONFLICT (project_id, day) DO UPDATE SET count = usage_days.count + excluded.count";

/// One metered call, as [`track_and_read`] runs it.
#[derive(Debug)]
pub struct MeteredCall<'a> {
    /// The project.
    pub project_id: &'a str,
    /// `cus_…` or the developer's external id.
    pub end_user: &'a str,
    /// The calendar month, for end users without a subscription period.
    pub calendar: tollgate::usage::Period,
    /// Now, in ms.
    pub now: i64,
    /// Units to count (0 checks without counting).
    pub cost: u64,
    /// From an end-user token: the version it was minted under.
    pub token_version: Option<i64>,
    /// The call's idempotency claim, marked counted in the same batch (see
    /// [`crate::idempotent::mark_counted`]).
    pub counted_mark: Option<D1PreparedStatement>,
}

/// Runs one metered call, adds what it counted to the project's day (for the dashboard's
/// series), marks its idempotency claim counted, and reads the allowance it was judged by —
/// one batch: one round trip, one transaction, so the answer describes exactly the state the
/// count used.
///
/// # Errors
/// Storage failures.
pub async fn track_and_read(
    db: &D1Database,
    call: MeteredCall<'_>,
) -> Result<(Option<u64>, Option<Allowance>), ApiError> {
    let MeteredCall {
        project_id,
        end_user,
        calendar,
        now,
        cost,
        token_version,
        counted_mark,
    } = call;
    let cost = i64::try_from(cost).unwrap_or(i64::MAX);
    let version = token_version.map_or(wasm_bindgen::JsValue::NULL, int);
    let track = stmt(
        db,
        TRACK,
        &[
            text(project_id),
            text(end_user),
            int(calendar.start),
            int(calendar.end),
            int(now),
            int(cost),
            version,
        ],
    )?;
    let day = stmt(
        db,
        COUNT_DAY,
        &[
            text(project_id),
            int(tollgate::dashboard::day_of(now) * tollgate::dashboard::DAY_MS),
            int(cost),
        ],
    )?;
    let read = stmt(db, ALLOWANCE, &[text(project_id), text(end_user)])?;
    // TRACK and COUNT_DAY must stay adjacent: COUNT_DAY reads TRACK's `changes()`, and the
    // idempotency mark reads COUNT_DAY's (a row there means TRACK counted).
    let mut statements = vec![track, day];
    statements.extend(counted_mark);
    statements.push(read);
    let results = db.batch(statements).await?;
    let counted = match results.first() {
        Some(r) => r
            .results::<CountRow>()?
            .first()
            .map(|row| u64::try_from(row.count).unwrap_or(0)),
        None => None,
    };
    let allowance = match results.last() {
        Some(r) => r.results::<Allowance>()?.into_iter().next(),
        None => None,
    };
    Ok((counted, allowance))
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
