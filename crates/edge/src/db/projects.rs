//! `projects`: a project is one publishable key; type and mode are fixed at creation; deletion
//! is soft and makes every key of the project stop working.

use super::{Count, all, first, int, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::paging::Page;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// A project as stored.
#[derive(Clone, Debug, Deserialize)]
pub struct ProjectRow {
    /// `prj_…`
    pub id: String,
    /// Owner.
    pub platform_id: String,
    /// Display name.
    pub name: String,
    /// `saas` or `store`.
    #[serde(rename = "type")]
    pub project_type: String,
    /// `test` or `live`.
    pub mode: String,
    /// The project's publishable key.
    pub publishable_key: String,
    /// The test project this live project was promoted from.
    pub promoted_from: Option<String>,
    /// The project's own identity provider for end-user JWTs: issuer…
    pub end_user_issuer: Option<String>,
    /// …its JWKS URL…
    pub end_user_jwks_url: Option<String>,
    /// …and the audience its tokens must carry.
    pub end_user_audience: Option<String>,
    /// The checkout limits as stored (JSON; see `tollgate::holds::CheckoutLimits`).
    pub checkout_limits: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms); the stale-state guard for edits.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, platform_id, name, type, mode, publishable_key, promoted_from, \
                       end_user_issuer, end_user_jwks_url, end_user_audience, checkout_limits, created_at, updated_at";

/// The insert for a new project.
///
/// # Errors
/// Binding failures.
pub fn insert(db: &D1Database, row: &ProjectRow) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "INSERT INTO projects (id, platform_id, name, type, mode, publishable_key, promoted_from, checkout_limits, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, ?8, ?8)",
        &[
            text(&row.id),
            text(&row.platform_id),
            text(&row.name),
            text(&row.project_type),
            text(&row.mode),
            text(&row.publishable_key),
            super::opt_text(row.promoted_from.as_deref()),
            int(row.created_at),
            text(&row.checkout_limits),
        ],
    )
}

/// One live project of the platform; another platform's or a deleted project is `None`.
///
/// # Errors
/// Storage failures.
pub async fn get(
    db: &D1Database,
    platform_id: &str,
    id: &str,
) -> Result<Option<ProjectRow>, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM projects WHERE id = ?1 AND platform_id = ?2 AND deleted_at IS NULL"
    );
    first(db, &sql, &[text(id), text(platform_id)]).await
}

/// How often a test project was promoted, and whether its live twin still exists.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Promotions {
    /// Live twins ever made (deleted ones included).
    pub total: i64,
    /// Live twins not deleted (0 or 1).
    pub active: i64,
}

/// The promotions of test project `id`.
///
/// # Errors
/// Storage failures.
pub async fn promotions(db: &D1Database, id: &str) -> Result<Promotions, ApiError> {
    let row: Option<Promotions> = first(
        db,
        "SELECT COUNT(*) AS total, COALESCE(SUM(deleted_at IS NULL), 0) AS active FROM projects WHERE promoted_from = ?1",
        &[text(id)],
    )
    .await?;
    Ok(row.unwrap_or(Promotions {
        total: 0,
        active: 0,
    }))
}

/// How many live projects the platform has (test and live).
///
/// # Errors
/// Storage failures.
pub async fn count(db: &D1Database, platform_id: &str) -> Result<u64, ApiError> {
    super::count(
        db,
        "SELECT COUNT(*) AS n FROM projects WHERE platform_id = ?1 AND deleted_at IS NULL",
        &[text(platform_id)],
    )
    .await
}

/// A page of the platform's projects, oldest first, and the total.
///
/// # Errors
/// Storage failures.
pub async fn list(
    db: &D1Database,
    platform_id: &str,
    page: Page,
) -> Result<(Vec<ProjectRow>, u64), ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM projects WHERE platform_id = ?1 AND deleted_at IS NULL ORDER BY created_at, id LIMIT ?2 OFFSET ?3"
    );
    let rows = all(
        db,
        &sql,
        &[
            text(platform_id),
            int(page.page_size.into()),
            int(page.offset().into()),
        ],
    )
    .await?;
    let total = first::<Count>(
        db,
        "SELECT COUNT(*) AS n FROM projects WHERE platform_id = ?1 AND deleted_at IS NULL",
        &[text(platform_id)],
    )
    .await?
    .map_or(0, |c| c.n);
    Ok((rows, total))
}

/// The rename, applied only if the project still has `expected_updated_at` (else it changes
/// nothing and the caller answers 409).
///
/// # Errors
/// Binding failures.
pub fn rename(
    db: &D1Database,
    platform_id: &str,
    id: &str,
    (name, checkout_limits): (&str, &str),
    expected_updated_at: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE projects SET name = ?1, checkout_limits = ?6, updated_at = ?2 WHERE id = ?3 AND platform_id = ?4 AND deleted_at IS NULL AND updated_at = ?5",
        &[
            text(name),
            int(now),
            text(id),
            text(platform_id),
            int(expected_updated_at),
            text(checkout_limits),
        ],
    )
}

/// Sets (or, with `None`, clears) the project's end-user identity provider.
///
/// # Errors
/// Binding failures.
pub fn set_end_user_auth(
    db: &D1Database,
    platform_id: &str,
    id: &str,
    auth: Option<(&str, &str, &str)>,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    let (issuer, jwks, audience) = auth.map_or(
        (JsValue::NULL, JsValue::NULL, JsValue::NULL),
        |(i, j, a)| (text(i), text(j), text(a)),
    );
    stmt(
        db,
        "UPDATE projects SET end_user_issuer = ?1, end_user_jwks_url = ?2, end_user_audience = ?3, updated_at = ?4 \
         WHERE id = ?5 AND platform_id = ?6 AND deleted_at IS NULL",
        &[
            issuer,
            jwks,
            audience,
            int(now),
            text(id),
            text(platform_id),
        ],
    )
}

/// Replaces the origins checkout and portal pages may send buyers back to.
///
/// # Errors
/// Binding failures.
pub fn set_redirect_origins(
    db: &D1Database,
    platform_id: &str,
    id: &str,
    origins: &[String],
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE projects SET redirect_origins = ?1, updated_at = ?2 WHERE id = ?3 AND platform_id = ?4 AND deleted_at IS NULL",
        &[
            text(&serde_json::Value::from(origins.to_vec()).to_string()),
            int(now),
            text(id),
            text(platform_id),
        ],
    )
}

/// The soft delete.
///
/// # Errors
/// Binding failures.
pub fn soft_delete(
    db: &D1Database,
    platform_id: &str,
    id: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE projects SET deleted_at = ?1, updated_at = ?1 WHERE id = ?2 AND platform_id = ?3 AND deleted_at IS NULL",
        &[int(now), text(id), text(platform_id)],
    )
}
