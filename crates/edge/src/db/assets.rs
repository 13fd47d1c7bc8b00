//! `assets`: the rows behind R2 objects. Deletion is soft (the row stays for the audit trail
//! and old orders) and refused while a product or tier still delivers the asset; the check is
//! inside the delete statement, so it cannot race an attach.

use super::{Count, all, first, int, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::assets::Visibility;
use tollgate::paging::Page;
use worker::{D1Database, D1PreparedStatement};

/// An asset as stored.
#[derive(Clone, Debug, Deserialize)]
pub struct AssetRow {
    /// `ast_…`
    pub id: String,
    /// The owning platform.
    pub platform_id: String,
    /// The owning project.
    pub project_id: String,
    /// The R2 object key (`public/…` or `private/…`).
    pub r2_key: String,
    /// The uploaded name.
    pub filename: String,
    /// The sniffed content type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256.
    pub sha256: String,
    /// `public` or `protected`.
    pub visibility: String,
    /// Upload time (ms).
    pub created_at: i64,
}

impl AssetRow {
    /// Public image or private file.
    #[must_use]
    pub fn visibility(&self) -> Visibility {
        Visibility::from_column(&self.visibility)
    }
}

const COLUMNS: &str = "id, platform_id, project_id, r2_key, filename, content_type, size, sha256, visibility, created_at";

/// The insert of a new asset.
///
/// # Errors
/// Binding failures.
pub fn insert(db: &D1Database, row: &AssetRow) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        &format!("INSERT INTO assets ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        &[
            text(&row.id),
            text(&row.platform_id),
            text(&row.project_id),
            text(&row.r2_key),
            text(&row.filename),
            text(&row.content_type),
            int(row.size),
            text(&row.sha256),
            text(&row.visibility),
            int(row.created_at),
        ],
    )
}

/// A live (not deleted) asset of the project.
///
/// # Errors
/// Storage failures.
pub async fn get(
    db: &D1Database,
    project_id: &str,
    id: &str,
) -> Result<Option<AssetRow>, ApiError> {
    first(
        db,
        &format!(
            "SELECT {COLUMNS} FROM assets WHERE project_id = ?1 AND id = ?2 AND deleted_at IS NULL"
        ),
        &[text(project_id), text(id)],
    )
    .await
}

/// What a project's live assets hold.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Held {
    /// How many.
    pub n: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// How many live assets the project has and their bytes.
///
/// # Errors
/// Storage failures.
pub async fn held(db: &D1Database, project_id: &str) -> Result<Held, ApiError> {
    let row: Option<Held> = first(
        db,
        "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM assets WHERE project_id = ?1 AND deleted_at IS NULL",
        &[text(project_id)],
    )
    .await?;
    Ok(row.unwrap_or(Held { n: 0, bytes: 0 }))
}

/// A page of the project's live assets, newest first, and their total.
///
/// # Errors
/// Storage failures.
pub async fn list(
    db: &D1Database,
    project_id: &str,
    page: Page,
) -> Result<(Vec<AssetRow>, u64), ApiError> {
    let rows = all(
        db,
        &format!(
            "SELECT {COLUMNS} FROM assets WHERE project_id = ?1 AND deleted_at IS NULL \
             ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
        ),
        &[
            text(project_id),
            int(page.page_size.into()),
            int(page.offset().into()),
        ],
    )
    .await?;
    let total = first::<Count>(
        db,
        "SELECT COUNT(*) AS n FROM assets WHERE project_id = ?1 AND deleted_at IS NULL",
        &[text(project_id)],
    )
    .await?
    .map_or(0, |c| c.n);
    Ok((rows, total))
}

/// Whether a product or tier (archived ones too: their buyers keep downloading) delivers the
/// asset bound to `param`.
fn in_use_sql(param: &str) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM products WHERE asset_id = {param}) OR EXISTS (SELECT 1 FROM tiers WHERE asset_id = {param}))"
    )
}

/// The soft delete of an asset, applied only while nothing delivers it.
///
/// # Errors
/// Binding failures.
pub fn delete(
    db: &D1Database,
    project_id: &str,
    id: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        &format!(
            "UPDATE assets SET deleted_at = ?3 WHERE project_id = ?1 AND id = ?2 AND deleted_at IS NULL AND NOT {}",
            in_use_sql("?2")
        ),
        &[text(project_id), text(id), int(now)],
    )
}

/// Whether a product or tier delivers the asset.
///
/// # Errors
/// Storage failures.
pub async fn in_use(db: &D1Database, id: &str) -> Result<bool, ApiError> {
    Ok(first::<Count>(
        db,
        &format!("SELECT {} AS n", in_use_sql("?1")),
        &[text(id)],
    )
    .await?
    .is_some_and(|c| c.n == 1))
}
