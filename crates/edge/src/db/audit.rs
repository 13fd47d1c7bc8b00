//! `audit_events`: one row per developer write, written in the same batch as the write.

use super::{Count, all, first, int, opt_text, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::paging::Page;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// Who did what to which record, from where. `metadata` is redacted JSON: never a secret.
#[derive(Clone, Debug, Deserialize)]
pub struct AuditRow {
    /// `aud_…`
    pub id: String,
    /// The platform the change belongs to.
    pub platform_id: String,
    /// The project, when the change concerns one.
    pub project_id: Option<String>,
    /// The developer's subject at their issuer.
    pub actor: String,
    /// E.g. `project.created`, `key.rotated`.
    pub action: String,
    /// E.g. `project`, `api_key`.
    pub target_type: String,
    /// The changed record's id.
    pub target_id: String,
    /// The request that made the change.
    pub request_id: String,
    /// The caller's address, when known.
    pub ip: Option<String>,
    /// The caller's user agent, when sent.
    pub user_agent: Option<String>,
    /// Redacted JSON detail.
    pub metadata: String,
    /// When (ms).
    pub created_at: i64,
}

const COLUMNS: &str = "id, platform_id, project_id, actor, action, target_type, target_id, request_id, ip, user_agent, metadata, created_at";

/// The insert for one audit event.
///
/// # Errors
/// Binding failures.
pub fn insert(db: &D1Database, row: &AuditRow) -> Result<D1PreparedStatement, ApiError> {
    insert_when(db, row, None)
}

/// The insert for one audit event, made only if `guard` — an SQL condition over `?13` and
/// `?14` bound to the given values — holds when the batch reaches it. A guarded change that
/// turned out to change nothing then leaves no audit row claiming it did.
///
/// # Errors
/// Binding failures.
pub fn insert_when(
    db: &D1Database,
    row: &AuditRow,
    guard: Option<(&str, [JsValue; 2])>,
) -> Result<D1PreparedStatement, ApiError> {
    let (condition, extra) = match guard {
        Some((condition, values)) => (condition, values.to_vec()),
        None => ("1", vec![]),
    };
    let sql = format!(
        "INSERT INTO audit_events (id, platform_id, project_id, actor, action, target_type, target_id, request_id, ip, user_agent, metadata, created_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 WHERE {condition}"
    );
    let mut params = vec![
        text(&row.id),
        text(&row.platform_id),
        opt_text(row.project_id.as_deref()),
        text(&row.actor),
        text(&row.action),
        text(&row.target_type),
        text(&row.target_id),
        text(&row.request_id),
        opt_text(row.ip.as_deref()),
        opt_text(row.user_agent.as_deref()),
        text(&row.metadata),
        int(row.created_at),
    ];
    params.extend(extra);
    stmt(db, &sql, &params)
}

/// A page of a platform's events (or one project's), newest first, and the total.
///
/// # Errors
/// Storage failures.
pub async fn list(
    db: &D1Database,
    platform_id: &str,
    project_id: Option<&str>,
    page: Page,
) -> Result<(Vec<AuditRow>, u64), ApiError> {
    let filter = if project_id.is_some() {
        "platform_id = ?1 AND project_id = ?2"
    } else {
        "platform_id = ?1 AND ?2 IS NULL"
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events WHERE {filter} ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4"
    );
    let scope = [text(platform_id), opt_text(project_id)];
    let rows = all(
        db,
        &sql,
        &[
            scope[0].clone(),
            scope[1].clone(),
            int(page.page_size.into()),
            int(page.offset().into()),
        ],
    )
    .await?;
    let total = first::<Count>(
        db,
        &format!("SELECT COUNT(*) AS n FROM audit_events WHERE {filter}"),
        &scope,
    )
    .await?
    .map_or(0, |c| c.n);
    Ok((rows, total))
}
