//! The console's reads of a project's end users: a keyset page of customers with their
//! standing (one statement), and one customer in full (one batch: standing, daily usage,
//! orders, entitlements). The plan and the counter come from the metered call's own SQL
//! rules (`standing!`, `period_start!`), so the console shows the counter a call counts into.
//!
//! Each statement answers one JSON document (`j`) in the API's shape, as the dashboard's do:
//! the worker reads one string per statement, and the core (`tollgate::customers`) adds
//! what needs a rule (the period, the cursor, the zero-filled history).

use super::dashboard::{boolean, standing};
use super::usage::period_start;
use super::{int, opt_text, text};
use crate::ApiError;
use serde::Deserialize;
use serde_json::Value;
use tollgate::customers::{CustomerQuery, MAX_ENTITLEMENTS, MAX_ORDERS};
use tollgate::dashboard::Window;
use tollgate::usage::Period;
use worker::{D1Database, D1Result};

/// The customers the page covers (`who`), then each one's standing, tier, current counter
/// and subscription — the deciding one (active or trialing) if any, else the newest — as
/// one JSON array, newest first. Binds ?1 project, ?2 the search's `LIKE` pattern, ?3 the
/// calendar month's start, ?4 and ?6 the cursor (created_at, id), ?5 now, ?7 one customer's
/// id, ?8 the rows to read.
const STANDING: &str = concat!(
    "WITH who AS (
  SELECT id, project_id, plan, email, external_id FROM end_users
  WHERE project_id = ?1 AND deleted_at IS NULL
    AND (?2 IS NULL OR email LIKE ?2 ESCAPE '\\' OR external_id LIKE ?2 ESCAPE '\\' OR id LIKE ?2 ESCAPE '\\')
    AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND id < ?6))
    AND (?7 IS NULL OR id = ?7)
  ORDER BY created_at DESC, id DESC LIMIT ?8
)",
    standing!(),
    " SELECT json_group_array(json(c)) AS j FROM (SELECT json_object('id', e.id, 'email', e.email,
  'externalId', e.external_id, 'firstName', e.first_name, 'lastName', e.last_name,
  'createdAt', e.created_at, 'plan', t.name, 'limit', t.usage_limit,
  'usage', json_object('count', COALESCE(uc.count, 0)),
  'subscription', json(CASE WHEN s.id IS NULL THEN 'null' ELSE json_object('id', s.id,
    'status', s.status, 'tier', COALESCE(stier.name, s.plan),
    'currentPeriodStart', s.current_period_start, 'currentPeriodEnd', s.current_period_end,
    'cancelAtPeriodEnd', ",
    boolean!("s.cancel_at_period_end = 1"),
    concat!(", 'canceledAt', s.canceled_at,
    'amount', s.amount, 'currency', s.currency, 'interval', s.interval) END)) AS c
FROM standing st
JOIN end_users e ON e.id = st.end_user_id
LEFT JOIN tiers t ON t.id = st.tier_id
LEFT JOIN usage_counters uc ON uc.project_id = st.project_id AND uc.end_user_id = st.end_user_id
  AND uc.period_start = st.period_start
LEFT JOIN subscriptions s ON s.id = (
  SELECT id FROM subscriptions WHERE project_id = st.project_id AND end_user_id = st.end_user_id
  ORDER BY status IN ", giving_access!(), " DESC, current_period_end DESC, id DESC LIMIT 1)
LEFT JOIN tiers stier ON stier.id = s.tier_id
ORDER BY e.created_at DESC, e.id DESC)")
);

/// Units per UTC day since ?4, and the part of each counted into the period the customer
/// is in now (the metered call's rule, `period_start!`, over their deciding subscription;
/// ?3 the calendar month's start, ?5 now), as one JSON document `[{ day, n, current }]`
/// (`day` in days).
const DAYS: &str = concat!(
    "WITH s AS (
  SELECT current_period_start AS ps, current_period_end AS pe FROM subscriptions
  WHERE project_id = ?1 AND end_user_id = ?2 AND status IN ", giving_access!(), "
  ORDER BY current_period_end DESC LIMIT 1
), p AS (SELECT ",
    period_start!(),
    " AS start FROM (SELECT 1) LEFT JOIN s)
SELECT json_group_array(json_object('day', day, 'n', n, 'current', c)) AS j
FROM (SELECT day, SUM(n) AS n, SUM(c) AS c FROM (
    SELECT day / 86400000 AS day, count AS n, 0 AS c FROM end_user_usage_days
    WHERE project_id = ?1 AND end_user_id = ?2 AND day >= ?4
  UNION ALL
    SELECT day / 86400000, 0, count FROM usage_period_days
    WHERE project_id = ?1 AND end_user_id = ?2 AND day >= ?4 AND period_start = (SELECT start FROM p))
  GROUP BY 1)"
);

/// The newest ?3 orders, each with its products, as one JSON array.
const ORDERS: &str = "SELECT json_group_array(json(o)) AS j FROM (SELECT json_object('id', o.id,
  'status', o.status, 'amountTotal', o.amount_total, 'amountRefunded', o.amount_refunded,
  'currency', o.currency, 'createdAt', o.created_at, 'paidAt', o.paid_at,
  'productIds', json((SELECT json_group_array(product_id) FROM (SELECT product_id
    FROM inventory_reservations WHERE order_id = o.id ORDER BY product_id)))) AS o
FROM orders o WHERE o.project_id = ?1 AND o.end_user_id = ?2
ORDER BY o.created_at DESC, o.id DESC LIMIT ?3)";

/// The newest ?3 entitlements — order entitlements whatever their status, and
/// subscriptions — as one JSON array.
const ENTITLEMENTS: &str = "SELECT json_group_array(json_object('id', id, 'source', source,
  'productId', product_id, 'plan', plan, 'status', status, 'revokedBy', revoked_by,
  'createdAt', created_at, 'revokedAt', revoked_at)) AS j FROM (
  SELECT e.id AS id, 'order' AS source, e.product_id AS product_id, NULL AS plan, e.status AS status,
    e.revoked_by AS revoked_by, e.granted_at AS created_at, e.revoked_at AS revoked_at
  FROM entitlements e WHERE e.project_id = ?1 AND e.end_user_id = ?2
  UNION ALL
  SELECT s.id, 'subscription', NULL, COALESCE(t.name, s.plan), s.status, NULL, s.created_at, NULL
  FROM subscriptions s LEFT JOIN tiers t ON t.id = s.tier_id
  WHERE s.project_id = ?1 AND s.end_user_id = ?2
  ORDER BY created_at DESC, id DESC LIMIT ?3)";

fn standing_statement(
    db: &D1Database,
    project_id: &str,
    query: &CustomerQuery,
    only: Option<&str>,
    rows: u32,
    now: i64,
) -> Result<worker::D1PreparedStatement, ApiError> {
    let pattern = query.like_pattern();
    let after = query.after.as_ref();
    super::stmt(
        db,
        STANDING,
        &[
            text(project_id),
            opt_text(pattern.as_deref()),
            int(Period::calendar_month(now).start),
            after.map_or(wasm_bindgen::JsValue::NULL, |c| int(c.created_at)),
            int(now),
            opt_text(after.map(|c| c.id.as_str())),
            opt_text(only),
            int(rows.into()),
        ],
    )
}

#[derive(Deserialize)]
struct Document {
    j: Option<String>,
}

/// The JSON document a statement's row carries (null when it answered none).
fn document(result: &D1Result) -> Result<Value, ApiError> {
    match result.results::<Document>()?.pop().and_then(|d| d.j) {
        Some(j) => Ok(serde_json::from_str(&j)?),
        None => Ok(Value::Null),
    }
}

/// Up to `query.limit + 1` customers of the project after the query's cursor, newest
/// first (a JSON array): one more than the page, so the caller knows whether another page
/// follows.
///
/// # Errors
/// Storage failures.
pub async fn page(
    db: &D1Database,
    project_id: &str,
    query: &CustomerQuery,
    now: i64,
) -> Result<Value, ApiError> {
    let statement = standing_statement(db, project_id, query, None, query.limit + 1, now)?;
    let results = db.batch(vec![statement]).await?;
    results.first().map_or(Ok(Value::Null), document)
}

/// A customer in full as its four documents: the customer, units per day (`[{ day, n }]`),
/// orders and entitlements.
#[derive(Debug)]
pub struct Detail {
    /// The customer and its standing.
    pub customer: Value,
    /// Units per UTC day over the series window.
    pub days: Value,
    /// The newest orders.
    pub orders: Value,
    /// The newest entitlements.
    pub entitlements: Value,
}

/// A live customer of the project in full, read in one batch; `None` when the project has
/// no such live customer.
///
/// # Errors
/// Storage failures.
pub async fn detail(
    db: &D1Database,
    project_id: &str,
    customer_id: &str,
    now: i64,
) -> Result<Option<Detail>, ApiError> {
    let unfiltered = CustomerQuery {
        limit: 1,
        search: None,
        after: None,
    };
    let owner = |third: i64| [text(project_id), text(customer_id), int(third)];
    let results = db
        .batch(vec![
            standing_statement(db, project_id, &unfiltered, Some(customer_id), 1, now)?,
            super::stmt(
                db,
                DAYS,
                &[
                    text(project_id),
                    text(customer_id),
                    int(Period::calendar_month(now).start),
                    int(Window::ending_at(now).since_ms()),
                    int(now),
                ],
            )?,
            super::stmt(db, ORDERS, &owner(MAX_ORDERS.into()))?,
            super::stmt(db, ENTITLEMENTS, &owner(MAX_ENTITLEMENTS.into()))?,
        ])
        .await?;
    let mut documents = Vec::with_capacity(results.len());
    for result in &results {
        documents.push(document(result)?);
    }
    let mut documents = documents.into_iter();
    let mut next = || documents.next().unwrap_or_default();
    let customer = match next() {
        Value::Array(mut rows) if !rows.is_empty() => rows.swap_remove(0),
        _ => return Ok(None),
    };
    Ok(Some(Detail {
        customer,
        days: next(),
        orders: next(),
        entitlements: next(),
    }))
}

/// Whether the project has this live customer (by `cus_…` id).
///
/// # Errors
/// Storage failures.
pub async fn exists(db: &D1Database, project_id: &str, id: &str) -> Result<bool, ApiError> {
    let n = super::count(
        db,
        "SELECT COUNT(*) AS n FROM end_users WHERE project_id = ?1 AND id = ?2 AND deleted_at IS NULL",
        &[text(project_id), text(id)],
    )
    .await?;
    Ok(n > 0)
}
