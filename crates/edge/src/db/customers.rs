//! The console's reads of a project's end users: a keyset page of customers with their
//! standing (one statement), and one customer in full (one batch: standing, daily usage,
//! orders, entitlements). The plan and the period come from the metered call's own SQL rules
//! (`standing!`, `period_start!`), so the console shows the counter a call would count into.

use super::dashboard::standing;
use super::usage::period_start;
use super::{int, opt_text, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::customers::{
    CustomerQuery, DetailRows, EntitlementView, MAX_ENTITLEMENTS, MAX_ORDERS, OrderRow, StandingRow,
};
use tollgate::dashboard::Window;
use tollgate::usage::Period;
use worker::D1Database;

/// The customers the page covers (`who`), then each one's standing, tier, current counter
/// and subscription — the deciding one (active or trialing) if any, else the newest. Binds
/// ?1 project, ?2 the search's `LIKE` pattern, ?3 the calendar month's start, ?4 and ?6 the
/// cursor (created_at, id), ?5 now, ?7 one customer's id, ?8 the rows to read.
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
    " SELECT e.id, e.email, e.external_id, e.first_name, e.last_name, e.created_at,
  t.name AS plan, t.usage_limit, COALESCE(uc.count, 0) AS usage_count,
  s.id AS sub_id, s.status AS sub_status, COALESCE(stier.name, s.plan) AS sub_tier,
  s.current_period_start AS sub_period_start, s.current_period_end AS sub_period_end,
  s.cancel_at_period_end AS sub_cancel_at_period_end, s.canceled_at AS sub_canceled_at,
  s.amount AS sub_amount, s.currency AS sub_currency, s.interval AS sub_interval
FROM standing st
JOIN end_users e ON e.id = st.end_user_id
LEFT JOIN tiers t ON t.id = st.tier_id
LEFT JOIN usage_counters uc ON uc.project_id = st.project_id AND uc.end_user_id = st.end_user_id
  AND uc.period_start = st.period_start
LEFT JOIN subscriptions s ON s.id = (
  SELECT id FROM subscriptions WHERE project_id = st.project_id AND end_user_id = st.end_user_id
  ORDER BY status IN ('active', 'trialing') DESC, current_period_end DESC, id DESC LIMIT 1)
LEFT JOIN tiers stier ON stier.id = s.tier_id
ORDER BY e.created_at DESC, e.id DESC"
);

/// Units per UTC day since ?3, as one JSON document `[{ day, n }]` (`day` in days).
const DAYS: &str = "SELECT json_group_array(json_object('day', day / 86400000, 'n', count)) AS j
FROM end_user_usage_days WHERE project_id = ?1 AND end_user_id = ?2 AND day >= ?3";

/// The newest ?3 orders, each with its products.
const ORDERS: &str =
    "SELECT o.id, o.status, o.amount_total, o.amount_refunded, o.currency, o.created_at, o.paid_at,
  (SELECT json_group_array(product_id) FROM (SELECT product_id FROM inventory_reservations
    WHERE order_id = o.id ORDER BY product_id)) AS product_ids
FROM orders o WHERE o.project_id = ?1 AND o.end_user_id = ?2
ORDER BY o.created_at DESC, o.id DESC LIMIT ?3";

/// The newest ?3 entitlements: order entitlements whatever their status, and subscriptions.
const ENTITLEMENTS: &str = "SELECT id, source, product_id, plan, status, revoked_by, created_at, revoked_at FROM (
  SELECT e.id AS id, 'order' AS source, e.product_id AS product_id, NULL AS plan, e.status AS status,
    e.revoked_by AS revoked_by, e.granted_at AS created_at, e.revoked_at AS revoked_at
  FROM entitlements e WHERE e.project_id = ?1 AND e.end_user_id = ?2
  UNION ALL
  SELECT s.id, 'subscription', NULL, COALESCE(t.name, s.plan), s.status, NULL, s.created_at, NULL
  FROM subscriptions s LEFT JOIN tiers t ON t.id = s.tier_id
  WHERE s.project_id = ?1 AND s.end_user_id = ?2
) ORDER BY created_at DESC, id DESC LIMIT ?3";

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

/// Up to `query.limit + 1` customers of the project after the query's cursor, newest
/// first: one more than the page, so the caller knows whether another page follows.
///
/// # Errors
/// Storage failures.
pub async fn page(
    db: &D1Database,
    project_id: &str,
    query: &CustomerQuery,
    now: i64,
) -> Result<Vec<StandingRow>, ApiError> {
    let statement = standing_statement(db, project_id, query, None, query.limit + 1, now)?;
    Ok(statement.all().await?.results()?)
}

#[derive(Deserialize)]
struct Document {
    j: Option<String>,
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
) -> Result<Option<DetailRows>, ApiError> {
    let unfiltered = CustomerQuery {
        limit: 1,
        search: None,
        after: None,
    };
    let owner = [text(project_id), text(customer_id)];
    let results = db
        .batch(vec![
            standing_statement(db, project_id, &unfiltered, Some(customer_id), 1, now)?,
            super::stmt(
                db,
                DAYS,
                &[
                    owner[0].clone(),
                    owner[1].clone(),
                    int(Window::ending_at(now).since_ms()),
                ],
            )?,
            super::stmt(
                db,
                ORDERS,
                &[owner[0].clone(), owner[1].clone(), int(MAX_ORDERS.into())],
            )?,
            super::stmt(
                db,
                ENTITLEMENTS,
                &[
                    owner[0].clone(),
                    owner[1].clone(),
                    int(MAX_ENTITLEMENTS.into()),
                ],
            )?,
        ])
        .await?;
    let [customer, days, orders, entitlements] = results.as_slice() else {
        return Err(ApiError::internal("the customer batch answered short"));
    };
    let Some(customer) = customer.results::<StandingRow>()?.into_iter().next() else {
        return Ok(None);
    };
    let days = match days.results::<Document>()?.pop().and_then(|d| d.j) {
        Some(j) => serde_json::from_str(&j)?,
        None => serde_json::Value::Null,
    };
    Ok(Some(DetailRows {
        customer,
        days,
        orders: orders.results::<OrderRow>()?,
        entitlements: entitlements.results::<EntitlementView>()?,
    }))
}
