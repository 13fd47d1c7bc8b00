//! `api_keys`: secret keys as keyed hashes, their rotation with a grace period and revocation.

use super::{all, first, int, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::KeyStatus;
use tollgate::paging::Page;
use worker::{D1Database, D1PreparedStatement};

/// A secret key's stored record (never the key itself).
#[derive(Clone, Debug, Deserialize)]
pub struct KeyRow {
    /// `key_…`
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// The keyed hash.
    pub hash: String,
    /// `sk_test_` / `sk_live_`.
    pub prefix: String,
    /// The key's last four characters.
    pub last4: String,
    /// Where it stands.
    pub status: KeyStatus,
    /// End of a rotated key's grace period (ms).
    pub expires_at: Option<i64>,
    /// The key that replaced this one.
    pub replaced_by: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// When it was rotated (ms).
    pub rotated_at: Option<i64>,
    /// When it was revoked (ms).
    pub revoked_at: Option<i64>,
    /// When it last authenticated a request, to [`LAST_USED_RESOLUTION_MS`] (ms).
    #[serde(default)]
    pub last_used_at: Option<i64>,
}

/// How fresh a key's `last_used_at` is kept: each isolate records a key's use at most once
/// per this long, so the hot path writes almost never.
pub const LAST_USED_RESOLUTION_MS: i64 = 5 * 60 * 1000;

impl KeyRow {
    /// The record of a newly issued, active secret key: its keyed hash and display parts.
    #[must_use]
    pub fn fresh(
        project_id: &str,
        key: &tollgate::ApiKey,
        pepper: &tollgate::Pepper,
        now: i64,
    ) -> Self {
        Self {
            id: tollgate::ids::new_id("key"),
            project_id: project_id.to_owned(),
            hash: key.hash(pepper),
            prefix: key.prefix().to_owned(),
            last4: key.last4().to_owned(),
            status: KeyStatus::Active,
            expires_at: None,
            replaced_by: None,
            created_at: now,
            rotated_at: None,
            revoked_at: None,
            last_used_at: None,
        }
    }
}

const COLUMNS: &str = "id, project_id, hash, prefix, last4, status, expires_at, replaced_by, created_at, rotated_at, revoked_at, last_used_at";

/// Records that key `id` authenticated a request at `now`, unless a use within the
/// resolution is already recorded (another isolate's, say); it never moves the time back.
///
/// # Errors
/// Storage failures.
pub async fn used(db: &D1Database, id: &str, now: i64) -> Result<(), ApiError> {
    stmt(
        db,
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2 - ?3)",
        &[text(id), int(now), int(LAST_USED_RESOLUTION_MS)],
    )?
    .run()
    .await?;
    Ok(())
}

/// The insert for a new active key.
///
/// # Errors
/// Binding failures.
pub fn insert(db: &D1Database, row: &KeyRow) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "INSERT INTO api_keys (id, project_id, hash, prefix, last4, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6)",
        &[
            text(&row.id),
            text(&row.project_id),
            text(&row.hash),
            text(&row.prefix),
            text(&row.last4),
            int(row.created_at),
        ],
    )
}

/// Every key of a project, newest first.
///
/// # Errors
/// Storage failures.
pub async fn list(db: &D1Database, project_id: &str) -> Result<Vec<KeyRow>, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE project_id = ?1 ORDER BY created_at DESC, id DESC"
    );
    all(db, &sql, &[text(project_id)]).await
}

/// A page of a project's keys, newest first, read with `LIMIT`, and their total.
///
/// # Errors
/// Storage failures.
pub async fn page(
    db: &D1Database,
    project_id: &str,
    page: Page,
) -> Result<(Vec<KeyRow>, u64), ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE project_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
    );
    super::page_by_project(
        db,
        &sql,
        "SELECT COUNT(*) AS n FROM api_keys WHERE project_id = ?1",
        project_id,
        page,
    )
    .await
}

/// One key of a project.
///
/// # Errors
/// Storage failures.
pub async fn get(db: &D1Database, project_id: &str, id: &str) -> Result<Option<KeyRow>, ApiError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1 AND project_id = ?2");
    first(db, &sql, &[text(id), text(project_id)]).await
}

/// Marks the project's active key rotated, valid until `expires_at`; changes nothing when
/// it is no longer active (a concurrent rotation won). Runs before the successor's insert,
/// which the one-active-key index would otherwise refuse.
///
/// # Errors
/// Binding failures.
pub fn retire(
    db: &D1Database,
    id: &str,
    expires_at: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE api_keys SET status = 'rotated', expires_at = ?1, rotated_at = ?2 WHERE id = ?3 AND status = 'active'",
        &[int(expires_at), int(now), text(id)],
    )
}

/// Points a rotated key at its successor, once the successor exists (same batch).
///
/// # Errors
/// Binding failures.
pub fn link_successor(
    db: &D1Database,
    id: &str,
    successor: &str,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE api_keys SET replaced_by = ?1 WHERE id = ?2",
        &[text(successor), text(id)],
    )
}

/// Revokes a key at once (active or still in its grace period).
///
/// # Errors
/// Binding failures.
pub fn revoke(db: &D1Database, id: &str, now: i64) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE api_keys SET status = 'revoked', revoked_at = ?1, expires_at = NULL WHERE id = ?2 AND status != 'revoked'",
        &[int(now), text(id)],
    )
}

/// Revokes every key of a project (used when the project is deleted).
///
/// # Errors
/// Binding failures.
pub fn revoke_all(
    db: &D1Database,
    project_id: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE api_keys SET status = 'revoked', revoked_at = ?1, expires_at = NULL WHERE project_id = ?2 AND status != 'revoked'",
        &[int(now), text(project_id)],
    )
}

/// What a key lookup needs about a key and its project. For a publishable key the key
/// fields are `NULL`/`active`: the project is the key.
#[derive(Clone, Debug, Deserialize)]
pub struct KeyAuthRow {
    /// The secret key's id (`None` for a publishable key).
    pub key_id: Option<String>,
    /// Active or rotated (revoked keys never match).
    pub status: KeyStatus,
    /// Grace end of a rotated key (ms).
    pub expires_at: Option<i64>,
    /// Its project.
    pub project_id: String,
    /// The project's publishable key.
    pub publishable_key: String,
    /// The project's platform.
    pub platform_id: String,
    /// `test` or `live`.
    pub mode: String,
    /// `saas` or `store`.
    #[serde(rename = "type")]
    pub project_type: String,
    /// The developer's own Tollgate subscription state.
    pub billing_status: String,
    /// Requests per second per secret key (`None` = default).
    pub rate_limit_secret: Option<i64>,
    /// Requests per second per publishable key and client (`None` = default).
    pub rate_limit_publishable: Option<i64>,
    /// The project's own end-user identity provider: issuer…
    pub end_user_issuer: Option<String>,
    /// …JWKS URL…
    pub end_user_jwks_url: Option<String>,
    /// …and audience.
    pub end_user_audience: Option<String>,
    /// The project's key-lookup version (see [`bump_auth_version`]).
    pub auth_version: i64,
}

/// The project half of a key lookup; `p` is the project, `f` its platform.
const PROJECT_AUTH_COLUMNS: &str = "p.id AS project_id, p.publishable_key, p.platform_id, p.mode, p.type, \
     p.rate_limit_secret, p.rate_limit_publishable, f.billing_status, \
     p.end_user_issuer, p.end_user_jwks_url, p.end_user_audience, p.auth_version";

/// Looks a secret key up by hash (revoked keys and deleted projects never match).
///
/// # Errors
/// Storage failures.
pub async fn find_by_hash(db: &D1Database, hash: &str) -> Result<Option<KeyAuthRow>, ApiError> {
    let sql = format!(
        "SELECT k.id AS key_id, k.status, k.expires_at, {PROJECT_AUTH_COLUMNS} \
         FROM api_keys k JOIN projects p ON p.id = k.project_id JOIN platforms f ON f.id = p.platform_id \
         WHERE k.hash = ?1 AND k.status != 'revoked' AND p.deleted_at IS NULL"
    );
    first(db, &sql, &[text(hash)]).await
}

/// Looks a publishable key up (deleted projects never match).
///
/// # Errors
/// Storage failures.
pub async fn find_by_publishable(
    db: &D1Database,
    publishable_key: &str,
) -> Result<Option<KeyAuthRow>, ApiError> {
    let sql = format!(
        "SELECT NULL AS key_id, 'active' AS status, NULL AS expires_at, {PROJECT_AUTH_COLUMNS} \
         FROM projects p JOIN platforms f ON f.id = p.platform_id \
         WHERE p.publishable_key = ?1 AND p.deleted_at IS NULL"
    );
    first(db, &sql, &[text(publishable_key)]).await
}

/// Bumps a project's key-lookup version: goes in the batch of every change to what a key
/// lookup answers (revoke, rotate, delete, end-user issuer), so a lookup that read the state
/// before it cannot stay written back to the key cache after it.
///
/// # Errors
/// Binding failures.
pub fn bump_auth_version(
    db: &D1Database,
    project_id: &str,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE projects SET auth_version = auth_version + 1 WHERE id = ?1",
        &[text(project_id)],
    )
}

/// Bumps the key-lookup version of every project of a platform (its billing gates live keys).
///
/// # Errors
/// Storage failures.
pub async fn bump_platform_auth_versions(
    db: &D1Database,
    platform_id: &str,
) -> Result<(), ApiError> {
    stmt(
        db,
        "UPDATE projects SET auth_version = auth_version + 1 WHERE platform_id = ?1",
        &[text(platform_id)],
    )?
    .run()
    .await?;
    Ok(())
}

/// A live project's current key-lookup version (`None` once it is deleted).
///
/// # Errors
/// Storage failures.
pub async fn auth_version(db: &D1Database, project_id: &str) -> Result<Option<i64>, ApiError> {
    #[derive(Deserialize)]
    struct Version {
        auth_version: i64,
    }
    let row: Option<Version> = first(
        db,
        "SELECT auth_version FROM projects WHERE id = ?1 AND deleted_at IS NULL",
        &[text(project_id)],
    )
    .await?;
    Ok(row.map(|v| v.auth_version))
}

/// The hashes of a project's keys that may still be cached.
///
/// # Errors
/// Storage failures.
pub async fn live_hashes(db: &D1Database, project_id: &str) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct Hash {
        hash: String,
    }
    let rows: Vec<Hash> = all(
        db,
        "SELECT hash FROM api_keys WHERE project_id = ?1 AND status != 'revoked'",
        &[text(project_id)],
    )
    .await?;
    Ok(rows.into_iter().map(|h| h.hash).collect())
}

/// Every project of a platform with its publishable key and the hashes of its usable secret
/// keys: what to drop from the key cache when the platform's billing changes.
///
/// # Errors
/// Storage failures.
pub async fn platform_keys(
    db: &D1Database,
    platform_id: &str,
) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        publishable_key: String,
        hash: Option<String>,
    }
    let rows: Vec<Row> = all(
        db,
        "SELECT p.publishable_key, k.hash FROM projects p LEFT JOIN api_keys k ON k.project_id = p.id AND k.status != 'revoked' \
         WHERE p.platform_id = ?1 AND p.deleted_at IS NULL ORDER BY p.publishable_key",
        &[text(platform_id)],
    )
    .await?;
    let mut projects: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows {
        match projects.last_mut() {
            Some((pk, hashes)) if *pk == row.publishable_key => hashes.extend(row.hash),
            _ => projects.push((row.publishable_key, row.hash.into_iter().collect())),
        }
    }
    Ok(projects)
}
