//! The operator's reads and repairs across every platform: the business metrics (one
//! `db.batch` of SQL aggregates), the developer directory, and the subscription rows the
//! entitlement drift audit compares with the provider.
//!
//! Nothing here selects a key hash, a sealed token or a payment detail: the admin lane sees
//! ids, names, states and counts.

use super::{Count, all, first, int, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use serde_json::Value;
use tollgate::paging::Page;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// The metrics statements, in the order [`Metrics`] reads them. ?1 = 30 days ago (ms).
const METRICS: [&str; 6] = [
    // developers and the paying ones (the operator's own plan)
    "SELECT json_object('total', COUNT(*), 'paying', COALESCE(SUM(billing_status IN ('active', 'trialing')), 0),
  'active', COALESCE(SUM(billing_status = 'active'), 0)) AS j FROM platforms",
    // projects by mode and type
    "SELECT json_group_array(json_object('mode', mode, 'type', type, 'count', n)) AS j
FROM (SELECT mode, type, COUNT(*) AS n FROM projects WHERE deleted_at IS NULL GROUP BY mode, type ORDER BY mode, type)",
    // end users by mode
    "SELECT json_group_array(json_object('mode', mode, 'count', n)) AS j
FROM (SELECT p.mode AS mode, COUNT(*) AS n FROM end_users e JOIN projects p ON p.id = e.project_id
  WHERE e.deleted_at IS NULL AND p.deleted_at IS NULL GROUP BY p.mode ORDER BY p.mode)",
    // live projects' subscriptions, grouped as the dashboard groups them for its MRR
    "SELECT json_group_array(json_object('status', status, 'interval', interval, 'currency', currency,
  'canceling', canceling, 'n', n, 'amount', amount)) AS j
FROM (SELECT s.status, s.interval, s.currency, s.cancel_at_period_end AS canceling, COUNT(*) AS n, SUM(s.amount) AS amount
  FROM subscriptions s JOIN projects p ON p.id = s.project_id
  WHERE p.mode = 'live' AND p.deleted_at IS NULL AND s.status IN ('active', 'trialing', 'past_due')
  GROUP BY s.status, s.interval, s.currency, s.cancel_at_period_end)",
    // outbound webhook deliveries settled in the last 30 days
    "SELECT json_object('delivered', COALESCE(SUM(status = 'delivered'), 0), 'failed', COALESCE(SUM(status = 'failed'), 0),
  'pending', COALESCE(SUM(status = 'pending'), 0)) AS j FROM webhook_deliveries WHERE created_at >= ?1",
    // Stripe events by outcome in the last 30 days
    "SELECT json_group_array(json_object('outcome', outcome, 'count', n)) AS j
FROM (SELECT outcome, COUNT(*) AS n FROM stripe_events WHERE received_at >= ?1 GROUP BY outcome ORDER BY outcome)",
];

/// The metrics documents.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `{ total, paying, active }`
    pub developers: Value,
    /// `[{ mode, type, count }]`
    pub projects: Value,
    /// `[{ mode, count }]`
    pub end_users: Value,
    /// Live subscriptions grouped for [`tollgate::dashboard::subscription_stats`].
    pub subscriptions: Value,
    /// `{ delivered, failed, pending }`
    pub deliveries: Value,
    /// `[{ outcome, count }]`
    pub stripe_events: Value,
}

#[derive(Deserialize)]
struct Document {
    j: Option<String>,
}

/// Every metric in one batch (6 statements, one round trip, one snapshot).
///
/// # Errors
/// Storage failures.
pub async fn metrics(db: &D1Database, since: i64) -> Result<Metrics, ApiError> {
    let statements = METRICS
        .iter()
        .map(|sql| {
            let params: &[JsValue] = if sql.contains("?1") {
                &[int(since)]
            } else {
                &[]
            };
            stmt(db, sql, params)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let results = db.batch(statements).await?;
    let mut docs = Vec::with_capacity(results.len());
    for result in &results {
        let raw = result.results::<Document>()?.pop().and_then(|d| d.j);
        docs.push(match raw {
            Some(j) => serde_json::from_str(&j)?,
            None => Value::Null,
        });
    }
    let mut next = docs.into_iter();
    let mut take = || next.next().unwrap_or_default();
    Ok(Metrics {
        developers: take(),
        projects: take(),
        end_users: take(),
        subscriptions: take(),
        deliveries: take(),
        stripe_events: take(),
    })
}

/// A developer as the operator lists them.
#[derive(Clone, Debug, Deserialize)]
pub struct DeveloperRow {
    /// `plt_…`
    pub id: String,
    /// Identity issuer.
    pub issuer: String,
    /// Identity subject.
    pub subject: String,
    /// Email from the identity.
    pub email: Option<String>,
    /// Their Tollgate plan's status.
    pub billing_status: String,
    /// Period end of their plan (ms).
    pub current_period_end: Option<i64>,
    /// Live projects.
    pub live_projects: i64,
    /// Test projects.
    pub test_projects: i64,
    /// Created (ms).
    pub created_at: i64,
}

/// A prefix compare, not `LIKE`: D1 refuses a `LIKE` pattern over 50 bytes ("pattern too
/// complex", a 500 for a long search), and a compare has no wildcards to escape. `lower()`
/// folds ASCII only, as `LIKE` did, so the search stays case-insensitive for ASCII.
const DEVELOPER_FILTER: &str = "(?1 = '' OR substr(lower(p.id), 1, length(?1)) = lower(?1) OR substr(lower(p.subject), 1, length(?1)) = lower(?1) OR substr(lower(p.email), 1, length(?1)) = lower(?1))";

/// One page of developers whose id, subject or email starts with `q` (all when empty),
/// newest first.
///
/// # Errors
/// Storage failures.
pub async fn developers(
    db: &D1Database,
    q: &str,
    page: Page,
) -> Result<(Vec<DeveloperRow>, u64), ApiError> {
    let sql = format!(
        "SELECT p.id, p.issuer, p.subject, p.email, p.billing_status, p.current_period_end, p.created_at,
  (SELECT COUNT(*) FROM projects WHERE platform_id = p.id AND mode = 'live' AND deleted_at IS NULL) AS live_projects,
  (SELECT COUNT(*) FROM projects WHERE platform_id = p.id AND mode = 'test' AND deleted_at IS NULL) AS test_projects
FROM platforms p WHERE {DEVELOPER_FILTER} ORDER BY p.created_at DESC, p.id DESC LIMIT ?2 OFFSET ?3"
    );
    let rows = all(
        db,
        &sql,
        &[
            text(q),
            int(page.page_size.into()),
            int(page.offset().into()),
        ],
    )
    .await?;
    let total = first::<Count>(
        db,
        &format!("SELECT COUNT(*) AS n FROM platforms p WHERE {DEVELOPER_FILTER}"),
        &[text(q)],
    )
    .await?
    .map_or(0, |c| c.n);
    Ok((rows, total))
}

/// Which subscriptions a drift audit covers.
#[derive(Clone, Copy, Debug)]
pub enum DriftScope<'a> {
    /// Every project of one platform.
    Platform(&'a str),
    /// One project.
    Project(&'a str),
}

/// A stored subscription with what the audit needs to ask the provider about it.
#[derive(Clone, Debug, Deserialize)]
pub struct DriftRow {
    /// `subr_…`
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// The project's platform.
    pub platform_id: String,
    /// The project's mode (which Stripe key to use).
    pub mode: String,
    /// The subscriber.
    pub end_user_id: String,
    /// The tier granted.
    pub tier_id: Option<String>,
    /// The tier's name.
    pub plan: String,
    /// `sub_…`
    pub stripe_subscription_id: String,
    /// Stored status.
    pub status: tollgate::subscription::Status,
    /// Stored price.
    pub stripe_price_id: Option<String>,
    /// Stored period end (ms).
    pub current_period_end: Option<i64>,
    /// Whether it ends at the period's end.
    #[serde(deserialize_with = "super::flag")]
    pub cancel_at_period_end: bool,
    /// The connected account the subscription lives on (None when no longer connected).
    pub account_id: Option<String>,
    /// Newest applied event (ms).
    pub stripe_event_at: i64,
}

/// One page (`limit` rows from `offset`) of the scope's subscriptions that are not final
/// (`canceled` and `incomplete_expired` never change again), by Stripe id, and their total.
///
/// # Errors
/// Storage failures.
pub async fn drift_rows(
    db: &D1Database,
    scope: DriftScope<'_>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DriftRow>, u64), ApiError> {
    let (column, id) = match scope {
        DriftScope::Platform(id) => ("p.platform_id", id),
        DriftScope::Project(id) => ("p.id", id),
    };
    let from = format!(
        "FROM subscriptions s JOIN projects p ON p.id = s.project_id
WHERE {column} = ?1 AND p.deleted_at IS NULL AND s.status NOT IN ('canceled', 'incomplete_expired')"
    );
    let rows = all(
        db,
        &format!(
            "SELECT s.id, s.project_id, p.platform_id, p.mode, s.end_user_id, s.tier_id, s.plan, s.stripe_subscription_id,
  s.status, s.stripe_price_id, s.current_period_end, s.cancel_at_period_end, s.stripe_event_at,
  (SELECT account_id FROM stripe_connections c WHERE c.platform_id = p.platform_id AND c.mode = p.mode AND c.status = 'connected') AS account_id
{from} ORDER BY s.stripe_subscription_id LIMIT ?2 OFFSET ?3"
        ),
        &[text(id), int(limit), int(offset)],
    )
    .await?;
    let total = first::<Count>(db, &format!("SELECT COUNT(*) AS n {from}"), &[text(id)])
        .await?
        .map_or(0, |c| c.n);
    Ok((rows, total))
}

/// Whether the scope names an existing platform or (not deleted) project.
///
/// # Errors
/// Storage failures.
pub async fn scope_exists(db: &D1Database, scope: DriftScope<'_>) -> Result<bool, ApiError> {
    let (sql, id) = match scope {
        DriftScope::Platform(id) => ("SELECT COUNT(*) AS n FROM platforms WHERE id = ?1", id),
        DriftScope::Project(id) => (
            "SELECT COUNT(*) AS n FROM projects WHERE id = ?1 AND deleted_at IS NULL",
            id,
        ),
    };
    Ok(first::<Count>(db, sql, &[text(id)])
        .await?
        .is_some_and(|c| c.n > 0))
}

/// A subscription the provider no longer knows ends here as it would on its deletion
/// event: `canceled`, from now on.
///
/// # Errors
/// Binding failures.
pub fn cancel_missing(
    db: &D1Database,
    stripe_subscription_id: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE subscriptions SET status = 'canceled', cancel_at_period_end = 0, canceled_at = COALESCE(canceled_at, ?2),
  stripe_event_at = MAX(stripe_event_at, ?2), updated_at = ?2 WHERE stripe_subscription_id = ?1",
        &[text(stripe_subscription_id), int(now)],
    )
}
