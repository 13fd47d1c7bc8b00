//! What end users are entitled to: `entitlements` rows granted by paid orders (`ent_…`) and
//! active or trialing `subscriptions` (`subr_…`), read as one list; revocation of order
//! entitlements; and the two checks behind a download — when its URL is issued and again when
//! the file is fetched.

use super::{Count, all, first, int, text};
use crate::ApiError;
use serde::{Deserialize, Serialize};
use tollgate::download::{DownloadClaims, Grant, Target};
use tollgate::paging::Page;
use worker::{D1Database, D1PreparedStatement};

/// One entitlement, from an order or a subscription. Read from the columns as named here and
/// written out in the API's own names, so the row is its own view.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase"))]
pub struct EntitlementRow {
    /// `ent_…` or `subr_…`
    pub id: String,
    /// `order` or `subscription`.
    #[serde(rename(serialize = "type"))]
    pub kind: String,
    /// `active`/`revoked` for orders; the subscription's status otherwise.
    pub status: String,
    /// The end user (`None` for a guest's order).
    #[serde(rename(serialize = "customerId"))]
    pub end_user_id: Option<String>,
    /// The product bought (orders).
    pub product_id: Option<String>,
    /// The tier subscribed to (subscriptions).
    pub tier_id: Option<String>,
    /// The order (orders).
    pub order_id: Option<String>,
    /// The live private asset it lets the end user download, if any.
    pub asset_id: Option<String>,
    /// When it was granted (ms).
    pub granted_at: i64,
    /// When it was revoked (ms).
    pub revoked_at: Option<i64>,
    /// When the subscription's paid period ends (ms).
    #[serde(rename(serialize = "currentPeriodEnd"))]
    pub period_end: Option<i64>,
}

// Every column is named: a compound select orders by the names of its first select.
const ORDERS: &str = "SELECT e.id AS id, 'order' AS kind, e.status AS status, e.end_user_id AS end_user_id, e.product_id AS product_id, \
                      NULL AS tier_id, e.order_id AS order_id, a.id AS asset_id, e.granted_at AS granted_at, e.revoked_at AS revoked_at, \
                      NULL AS period_end \
                      FROM entitlements e LEFT JOIN products p ON p.id = e.product_id \
                      LEFT JOIN assets a ON a.id = p.asset_id AND a.deleted_at IS NULL";
const SUBSCRIPTIONS: &str = "SELECT s.id, 'subscription' AS kind, s.status, s.end_user_id, NULL AS product_id, s.tier_id, NULL AS order_id, \
                             a.id AS asset_id, s.created_at AS granted_at, NULL AS revoked_at, s.current_period_end AS period_end \
                             FROM subscriptions s LEFT JOIN tiers t ON t.id = s.tier_id \
                             LEFT JOIN assets a ON a.id = t.asset_id AND a.deleted_at IS NULL";
const ACTIVE_ORDERS: &str = "e.project_id = ?1 AND e.end_user_id = ?2 AND e.status = 'active'";
const ACTIVE_SUBSCRIPTIONS: &str = concat!(
    "s.project_id = ?1 AND s.end_user_id = ?2 AND s.status IN ",
    giving_access!()
);

/// A page of the end user's active entitlements (order entitlements not revoked, and
/// subscriptions that are active or trialing), newest first, and their total.
///
/// # Errors
/// Storage failures.
pub async fn list(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
    page: Page,
) -> Result<(Vec<EntitlementRow>, u64), ApiError> {
    let rows = all(
        db,
        &format!(
            "{ORDERS} WHERE {ACTIVE_ORDERS} UNION ALL {SUBSCRIPTIONS} WHERE {ACTIVE_SUBSCRIPTIONS} \
             ORDER BY granted_at DESC, id DESC LIMIT ?3 OFFSET ?4"
        ),
        &[
            text(project_id),
            text(end_user_id),
            int(page.page_size.into()),
            int(page.offset().into()),
        ],
    )
    .await?;
    let total = first::<Count>(
        db,
        &format!(
            "SELECT (SELECT COUNT(*) FROM entitlements e WHERE {ACTIVE_ORDERS}) + \
             (SELECT COUNT(*) FROM subscriptions s WHERE {ACTIVE_SUBSCRIPTIONS}) AS n"
        ),
        &[text(project_id), text(end_user_id)],
    )
    .await?
    .map_or(0, |c| c.n);
    Ok((rows, total))
}

/// One of the project's order entitlements, whatever its status.
///
/// # Errors
/// Storage failures.
pub async fn order_entitlement(
    db: &D1Database,
    project_id: &str,
    id: &str,
) -> Result<Option<EntitlementRow>, ApiError> {
    first(
        db,
        &format!("{ORDERS} WHERE e.project_id = ?1 AND e.id = ?2"),
        &[text(project_id), text(id)],
    )
    .await
}

/// Revokes an order entitlement; changes nothing when it is already revoked.
///
/// # Errors
/// Binding failures.
pub fn revoke(
    db: &D1Database,
    project_id: &str,
    id: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    super::stmt(
        db,
        "UPDATE entitlements SET status = 'revoked', revoked_at = ?3, revoked_by = 'developer' WHERE project_id = ?1 AND id = ?2 AND status = 'active'",
        &[text(project_id), text(id), int(now)],
    )
}

/// A file and the end user's right to it, as a download sees them: at issue (which
/// entitlement covers the file) and at fetch (whether that entitlement still holds). One row
/// type serves both, so the worker carries one decoder.
#[derive(Clone, Debug, Deserialize)]
pub struct Access {
    /// The active entitlement covering the file (`ent_…` or `subr_…`), if any.
    pub entitlement_id: Option<String>,
    /// Whether the entitlement is active and its end user and project exist.
    #[serde(deserialize_with = "super::flag")]
    pub active: bool,
    /// The live private asset delivered, if any.
    pub asset_id: Option<String>,
    /// Its R2 object.
    pub r2_key: Option<String>,
    /// Its name.
    pub filename: Option<String>,
    /// Its stored type.
    pub content_type: Option<String>,
    /// Its size.
    pub size: Option<i64>,
}

/// The columns of [`Access`] after the entitlement's two, from the asset joined as `a`.
const FILE: &str = "a.id AS asset_id, a.r2_key, a.filename, a.content_type, a.size";

/// The live private asset joined as `a` onto the column that names it.
fn deliverable(column: &str) -> String {
    format!(
        "LEFT JOIN assets a ON a.id = {column} AND a.project_id = ?1 AND a.deleted_at IS NULL AND a.visibility = 'protected'"
    )
}

const ORDER_OF_PRODUCT: &str = "SELECT e.id FROM entitlements e WHERE e.project_id = ?1 AND e.end_user_id = ?3 AND e.status = 'active' \
                                AND e.product_id = p.id ORDER BY e.granted_at LIMIT 1";
const SUBSCRIPTION_TO_TIER: &str = concat!(
    "SELECT s.id FROM subscriptions s WHERE s.project_id = ?1 AND s.end_user_id = ?3 \
                                    AND s.status IN ",
    giving_access!(),
    " AND s.tier_id = t.id ORDER BY s.created_at DESC LIMIT 1"
);

/// What a download request for `target` finds for the end user: the file it delivers and the
/// entitlement that covers it. `None` when the product, tier or private asset does not exist
/// in the project.
///
/// # Errors
/// Storage failures.
pub async fn offer(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
    target: &Target,
) -> Result<Option<Access>, ApiError> {
    // A product or tier (joined as `alias`), the file it delivers and what covers it.
    let item = |covering: &str, table: &str, alias: &str| {
        format!(
            "SELECT ({covering}) AS entitlement_id, 1 AS active, {FILE} \
             FROM {table} {alias} {} WHERE {alias}.project_id = ?1 AND {alias}.id = ?2",
            deliverable(&format!("{alias}.asset_id"))
        )
    };
    let (sql, id) = match target {
        Target::Product(id) => (item(ORDER_OF_PRODUCT, "products", "p"), id),
        Target::Tier(id) => (item(SUBSCRIPTION_TO_TIER, "tiers", "t"), id),
        Target::Asset(id) => (
            format!(
                concat!(
                    "SELECT COALESCE(\
                 (SELECT e.id FROM entitlements e JOIN products p ON p.id = e.product_id WHERE e.project_id = ?1 AND e.end_user_id = ?3 \
                  AND e.status = 'active' AND p.asset_id = a.id ORDER BY e.granted_at LIMIT 1), \
                 (SELECT s.id FROM subscriptions s JOIN tiers t ON t.id = s.tier_id WHERE s.project_id = ?1 AND s.end_user_id = ?3 \
                  AND s.status IN ",
                    giving_access!(),
                    " AND t.asset_id = a.id ORDER BY s.created_at DESC LIMIT 1)) AS entitlement_id, \
                 1 AS active, {FILE} \
                 FROM assets a WHERE a.project_id = ?1 AND a.id = ?2 AND a.deleted_at IS NULL AND a.visibility = 'protected'"
                ),
                FILE = FILE,
            ),
            id,
        ),
    };
    first(db, &sql, &[text(project_id), text(id), text(end_user_id)]).await
}

/// Re-checks a token's claims against storage: its entitlement (of its project and end
/// user) still active, and its asset still the live private file that entitlement delivers.
/// `None` when the entitlement does not exist for that project and end user.
///
/// # Errors
/// Storage failures.
pub async fn fetchable(
    db: &D1Database,
    claims: &DownloadClaims,
) -> Result<Option<Access>, ApiError> {
    let live =
        "u.id IS NOT NULL AND EXISTS (SELECT 1 FROM projects WHERE id = ?1 AND deleted_at IS NULL)";
    let sql = match Grant::of(&claims.entitlement_id) {
        Some(Grant::Order) => format!(
            "SELECT ?3 AS entitlement_id, (e.status = 'active' AND {live}) AS active, {FILE} \
             FROM entitlements e JOIN products p ON p.id = e.product_id \
             LEFT JOIN end_users u ON u.id = e.end_user_id AND u.deleted_at IS NULL {} \
             WHERE e.id = ?3 AND e.project_id = ?1 AND e.end_user_id = ?2",
            deliverable("?4 AND a.id = p.asset_id")
        ),
        Some(Grant::Subscription) => format!(
            concat!(
                "SELECT ?3 AS entitlement_id, (s.status IN ",
                giving_access!(),
                " AND {live}) AS active, {FILE} \
             FROM subscriptions s JOIN tiers t ON t.id = s.tier_id \
             LEFT JOIN end_users u ON u.id = s.end_user_id AND u.deleted_at IS NULL {} \
             WHERE s.id = ?3 AND s.project_id = ?1 AND s.end_user_id = ?2"
            ),
            deliverable("?4 AND a.id = t.asset_id"),
            live = live,
            FILE = FILE,
        ),
        None => return Ok(None),
    };
    first(
        db,
        &sql,
        &[
            text(&claims.project_id),
            text(&claims.end_user_id),
            text(&claims.entitlement_id),
            text(&claims.asset_id),
        ],
    )
    .await
}
