//! `end_users`: a project's customers. Deletion is soft: usage goes, billing records stay,
//! and every end-user token minted before stops working (`token_version` moves on).

use super::{Count, all, first, int, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::paging::Page;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// An end user as stored.
#[derive(Clone, Debug, Deserialize)]
pub struct EndUserRow {
    /// `cus_…`
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// The developer's own id for this user.
    pub external_id: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// The tier assigned without a subscription (`None` = the project's default tier).
    pub plan: Option<String>,
    /// Bumped to revoke every end-user token minted before.
    pub token_version: i64,
    /// Their customer on the project's connected Stripe account, once they started paying.
    pub stripe_customer_id: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

const COLUMNS: &str = "id, project_id, external_id, email, first_name, last_name, plan, token_version, stripe_customer_id, created_at, updated_at";

fn opt(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

/// The insert of a new end user; it changes no row when the external id is taken in the
/// project (`ON CONFLICT DO NOTHING`), so the batch it runs in can tell.
///
/// # Errors
/// Binding failures.
pub fn insert(db: &D1Database, row: &EndUserRow) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "INSERT INTO end_users (id, project_id, external_id, email, first_name, last_name, plan, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
         ON CONFLICT (project_id, external_id) WHERE external_id IS NOT NULL AND deleted_at IS NULL DO NOTHING",
        &[
            text(&row.id),
            text(&row.project_id),
            opt(row.external_id.as_deref()),
            opt(row.email.as_deref()),
            opt(row.first_name.as_deref()),
            opt(row.last_name.as_deref()),
            opt(row.plan.as_deref()),
            int(row.created_at),
        ],
    )
}

/// How many live end users the project has.
///
/// # Errors
/// Storage failures.
pub async fn count(db: &D1Database, project_id: &str) -> Result<u64, ApiError> {
    super::count(
        db,
        "SELECT COUNT(*) AS n FROM end_users WHERE project_id = ?1 AND deleted_at IS NULL",
        &[text(project_id)],
    )
    .await
}

#[derive(serde::Deserialize)]
struct IdRow {
    id: String,
}

/// The ids of at most `limit` of the project's live end users, the most recently metered
/// first (a tier edit tells their metering objects at once; an idle object has let go of
/// its allowance anyway).
///
/// # Errors
/// Storage failures.
pub async fn recently_metered_ids(
    db: &D1Database,
    project_id: &str,
    limit: usize,
) -> Result<Vec<String>, ApiError> {
    let rows: Vec<IdRow> = super::all(
        db,
        "SELECT e.id FROM end_users e \
         LEFT JOIN usage_counters u ON u.project_id = e.project_id AND u.end_user_id = e.id \
         WHERE e.project_id = ?1 AND e.deleted_at IS NULL \
         GROUP BY e.id ORDER BY MAX(u.updated_at) DESC NULLS LAST, e.id LIMIT ?2",
        &[
            text(project_id),
            int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// A live end user of the project, by `cus_…` id or by the developer's external id.
///
/// # Errors
/// Storage failures.
pub async fn find(
    db: &D1Database,
    project_id: &str,
    id_or_external: &str,
) -> Result<Option<EndUserRow>, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM end_users WHERE project_id = ?1 AND deleted_at IS NULL AND (id = ?2 OR external_id = ?2) \
         ORDER BY id = ?2 DESC LIMIT 1"
    );
    first(db, &sql, &[text(project_id), text(id_or_external)]).await
}

/// A page of the project's end users, oldest first, optionally only those with `email`.
///
/// # Errors
/// Storage failures.
pub async fn list(
    db: &D1Database,
    project_id: &str,
    email: Option<&str>,
    page: Page,
) -> Result<(Vec<EndUserRow>, u64), ApiError> {
    let filter =
        "project_id = ?1 AND deleted_at IS NULL AND (?2 IS NULL OR email = ?2 COLLATE NOCASE)";
    let sql = format!(
        "SELECT {COLUMNS} FROM end_users WHERE {filter} ORDER BY created_at, id LIMIT ?3 OFFSET ?4"
    );
    let rows = all(
        db,
        &sql,
        &[
            text(project_id),
            opt(email),
            int(page.page_size.into()),
            int(page.offset().into()),
        ],
    )
    .await?;
    let total = first::<Count>(
        db,
        &format!("SELECT COUNT(*) AS n FROM end_users WHERE {filter}"),
        &[text(project_id), opt(email)],
    )
    .await?
    .map_or(0, |c| c.n);
    Ok((rows, total))
}

/// The fields an update may change; `None` keeps the stored value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Changes<'a> {
    /// New email.
    pub email: Option<&'a str>,
    /// New first name.
    pub first_name: Option<&'a str>,
    /// New last name.
    pub last_name: Option<&'a str>,
    /// New assigned tier.
    pub plan: Option<&'a str>,
}

/// Applies `changes`. Usage is not touched: a plan change never resets what was counted.
///
/// # Errors
/// Binding failures.
pub fn update(
    db: &D1Database,
    project_id: &str,
    id: &str,
    changes: Changes<'_>,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE end_users SET email = COALESCE(?1, email), first_name = COALESCE(?2, first_name), last_name = COALESCE(?3, last_name), \
         plan = COALESCE(?4, plan), updated_at = ?5 WHERE project_id = ?6 AND id = ?7 AND deleted_at IS NULL",
        &[
            opt(changes.email),
            opt(changes.first_name),
            opt(changes.last_name),
            opt(changes.plan),
            int(now),
            text(project_id),
            text(id),
        ],
    )
}

/// The soft delete (tokens revoked) and the removal of the end user's usage.
///
/// # Errors
/// Binding failures.
pub fn delete(
    db: &D1Database,
    project_id: &str,
    id: &str,
    now: i64,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    Ok(vec![
        stmt(
            db,
            "UPDATE end_users SET deleted_at = ?1, updated_at = ?1, token_version = token_version + 1 WHERE project_id = ?2 AND id = ?3 AND deleted_at IS NULL",
            &[int(now), text(project_id), text(id)],
        )?,
        stmt(
            db,
            "DELETE FROM usage_counters WHERE project_id = ?1 AND end_user_id = ?2",
            &[text(project_id), text(id)],
        )?,
    ])
}
