//! The key lanes: an `sk_…` or `pk_…` resolved to its project, through an in-isolate cache,
//! then KV, then D1.
//!
//! Staleness bound: revoking a key, rotating it or deleting its project deletes the KV entry
//! at once. Lookups in other isolates may still hit their own cache for up to
//! [`ISOLATE_TTL_MS`] (30 s), and KV itself may serve a deleted entry for up to 60 s in other
//! locations. A revoked key therefore stops working in this isolate at once and everywhere
//! within 90 s. Keys that fail the checksum never reach storage.
//!
//! The cached record also carries the developer's billing standing (live keys fail closed
//! with 403 `live_mode_inactive` unless their Tollgate subscription is active, trialing or
//! past due) and the key's rate limit; both follow the same staleness bound.

use crate::db::{self, keys::KeyAuthRow};
use crate::{ApiError, Ctx, storage};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use tollgate::{ApiKey, KeyKind, Mode, Pepper, ProjectType};
use worker::Env;

/// How long a lookup stays in this isolate, unless `KEY_CACHE_SECONDS` says otherwise.
pub const ISOLATE_TTL_MS: i64 = 30_000;
/// How long a miss stays in this isolate, so unknown keys cannot hammer D1.
pub const NEGATIVE_TTL_MS: i64 = 5_000;
/// How long a lookup stays in KV.
pub const KV_TTL_SECONDS: u64 = 300;
/// Isolate cache entries beyond this clear the cache.
const MAX_ENTRIES: usize = 10_000;

/// Who a valid key speaks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectAuth {
    /// The secret key's id (`None` for a publishable key).
    pub key_id: Option<String>,
    /// The project.
    pub project_id: String,
    /// The project's publishable key.
    pub publishable_key: String,
    /// The project's platform.
    pub platform_id: String,
    /// Test or live.
    pub mode: Mode,
    /// SaaS or store.
    pub project_type: ProjectType,
    /// When a rotated secret key stops working (ms).
    pub expires_at: Option<i64>,
    /// Which lane the key opened.
    pub lane: Lane,
    /// Whether the developer's own Tollgate subscription lets live keys work.
    pub live_allowed: bool,
    /// Requests per second this key may make (per client, for a publishable key).
    pub rate_limit: u32,
    /// The project's own identity provider for end-user JWTs, if configured.
    pub end_user_issuer: Option<EndUserIssuer>,
}

/// A project's own identity provider for end-user JWTs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndUserIssuer {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Its JWKS URL.
    pub jwks_url: String,
    /// The audience its tokens must carry.
    pub audience: String,
}

fn end_user_issuer(
    issuer: Option<String>,
    jwks_url: Option<String>,
    audience: Option<String>,
) -> Option<EndUserIssuer> {
    Some(EndUserIssuer {
        issuer: issuer?,
        jwks_url: jwks_url?,
        audience: audience?,
    })
}

/// Default requests per second per secret key.
pub const DEFAULT_SECRET_RATE: u32 = 100;
/// Default requests per second per publishable key and client address.
pub const DEFAULT_PUBLISHABLE_RATE: u32 = 20;

/// Live keys work while the developer's Tollgate subscription is active, trialing, or past
/// due (Stripe is still collecting); anything else — none, canceled, unpaid — fails closed.
fn live_allowed(billing_status: &str) -> bool {
    matches!(billing_status, "active" | "trialing" | "past_due")
}

fn rate(configured: Option<i64>, default: u32) -> u32 {
    configured
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Which kind of key authenticated the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// `Authorization: Bearer sk_…`
    Secret,
    /// `X-Publishable-Key: pk_…`
    Publishable,
}

thread_local! {
    static CACHE: RefCell<HashMap<String, (Option<ProjectAuth>, i64)>> = RefCell::new(HashMap::new());
}

fn cache_key(kind: KeyKind, id: &str) -> String {
    match kind {
        KeyKind::Secret => format!("auth:sk:{id}"),
        KeyKind::Publishable => format!("auth:pk:{id}"),
    }
}

fn remembered(key: &str, now: i64, ttl_ms: i64) -> Option<Option<ProjectAuth>> {
    CACHE.with(|c| {
        let cache = c.borrow();
        let (auth, at) = cache.get(key)?;
        let ttl = if auth.is_some() {
            ttl_ms
        } else {
            NEGATIVE_TTL_MS.min(ttl_ms)
        };
        (now - at < ttl).then(|| auth.clone())
    })
}

/// The isolate cache lifetime: `KEY_CACHE_SECONDS` (0–30), default 30 s.
fn isolate_ttl_ms(env: &Env) -> i64 {
    env.var("KEY_CACHE_SECONDS")
        .ok()
        .and_then(|v| v.to_string().parse::<i64>().ok())
        .map_or(ISOLATE_TTL_MS, |s| (s * 1000).clamp(0, ISOLATE_TTL_MS))
}

/// The key a request presents: `Authorization: Bearer sk_…` (secret lane) or
/// `X-Publishable-Key: pk_…` (public lane). The bearer wins when both are sent.
///
/// # Errors
/// 401 `missing_credentials` without either header; 401 `invalid_api_key` when the key is
/// malformed or of the wrong kind for its header — decided without any storage I/O.
pub fn presented(ctx: &Ctx) -> Result<ApiKey, ApiError> {
    if let Some(header) = ctx.header("Authorization")? {
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .unwrap_or_default();
        let key = ApiKey::parse(token).map_err(|_| ApiError::InvalidApiKey)?;
        return if key.kind() == KeyKind::Secret {
            Ok(key)
        } else {
            Err(ApiError::InvalidApiKey)
        };
    }
    if let Some(header) = ctx.header("X-Publishable-Key")? {
        let key = ApiKey::parse(header.trim()).map_err(|_| ApiError::InvalidApiKey)?;
        return if key.kind() == KeyKind::Publishable {
            Ok(key)
        } else {
            Err(ApiError::InvalidApiKey)
        };
    }
    Err(ApiError::MissingCredentials(
        "Send `Authorization: Bearer sk_…` from a server or `X-Publishable-Key: pk_…` from a browser.",
    ))
}

fn remember(key: String, auth: Option<ProjectAuth>, now: i64) {
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(key, (auth, now));
    });
}

/// Resolves a key to its project, or refuses it with 401 `invalid_api_key`.
///
/// # Errors
/// [`ApiError::InvalidApiKey`] for unknown, revoked or expired keys and deleted projects;
/// internal errors for storage failures.
pub async fn authenticate(
    env: &Env,
    key: &ApiKey,
    pepper: &Pepper,
    now: i64,
) -> Result<ProjectAuth, ApiError> {
    let id = match key.kind() {
        KeyKind::Secret => key.hash(pepper),
        KeyKind::Publishable => key.expose().to_owned(),
    };
    let cache_key = cache_key(key.kind(), &id);
    let auth = match remembered(&cache_key, now, isolate_ttl_ms(env)) {
        Some(auth) => auth,
        None => {
            let auth = lookup(env, key.kind(), &id, &cache_key).await?;
            remember(cache_key, auth.clone(), now);
            auth
        }
    };
    match auth {
        Some(auth) if auth.mode == key.mode() && auth.expires_at.is_none_or(|end| now < end) => {
            if auth.mode == Mode::Live && !auth.live_allowed {
                return Err(ApiError::LiveModeInactive);
            }
            Ok(auth)
        }
        _ => Err(ApiError::InvalidApiKey),
    }
}

async fn lookup(
    env: &Env,
    kind: KeyKind,
    id: &str,
    cache_key: &str,
) -> Result<Option<ProjectAuth>, ApiError> {
    let kv = env.kv(storage::CACHE)?;
    // KV is only a cache: an entry this version cannot read (written before its shape
    // changed) or a failing KV read is a miss, answered from D1 below.
    if let Some(auth) = kv.get(cache_key).json::<ProjectAuth>().await.ok().flatten() {
        return Ok(Some(auth));
    }
    let database = db::database(env)?;
    let found = match kind {
        KeyKind::Secret => db::keys::find_by_hash(&database, id)
            .await?
            .map(|row| from_row(row, Lane::Secret)),
        KeyKind::Publishable => db::keys::find_by_publishable(&database, id)
            .await?
            .map(|row| from_row(row, Lane::Publishable)),
    }
    .transpose()?;
    if let Some(auth) = &found {
        kv.put(cache_key, auth)?
            .expiration_ttl(KV_TTL_SECONDS)
            .execute()
            .await?;
    }
    Ok(found)
}

fn parse_mode_and_type(mode: &str, project_type: &str) -> Result<(Mode, ProjectType), ApiError> {
    let mode =
        Mode::parse(mode).ok_or_else(|| ApiError::internal(format!("stored mode {mode:?}")))?;
    let project_type = ProjectType::parse(project_type)
        .ok_or_else(|| ApiError::internal(format!("stored type {project_type:?}")))?;
    Ok((mode, project_type))
}

fn from_row(row: KeyAuthRow, lane: Lane) -> Result<ProjectAuth, ApiError> {
    let (mode, project_type) = parse_mode_and_type(&row.mode, &row.project_type)?;
    // An active key has no end; a rotated key ends with its grace period.
    let expires_at = if row.status == "active" {
        None
    } else {
        Some(row.expires_at.unwrap_or(0))
    };
    let rate_limit = match lane {
        Lane::Secret => rate(row.rate_limit_secret, DEFAULT_SECRET_RATE),
        Lane::Publishable => rate(row.rate_limit_publishable, DEFAULT_PUBLISHABLE_RATE),
    };
    Ok(ProjectAuth {
        key_id: row.key_id,
        project_id: row.project_id,
        publishable_key: row.publishable_key,
        platform_id: row.platform_id,
        mode,
        project_type,
        expires_at,
        lane,
        live_allowed: live_allowed(&row.billing_status),
        rate_limit,
        end_user_issuer: end_user_issuer(
            row.end_user_issuer,
            row.end_user_jwks_url,
            row.end_user_audience,
        ),
    })
}

/// Drops cached lookups for these secret-key hashes and this publishable key, here and in KV.
///
/// # Errors
/// KV failures.
pub async fn forget(
    env: &Env,
    secret_hashes: &[String],
    publishable_key: Option<&str>,
) -> Result<(), ApiError> {
    let kv = env.kv(storage::CACHE)?;
    let mut keys: Vec<String> = secret_hashes
        .iter()
        .map(|h| cache_key(KeyKind::Secret, h))
        .collect();
    keys.extend(publishable_key.map(|pk| cache_key(KeyKind::Publishable, pk)));
    for key in &keys {
        kv.delete(key).await?;
    }
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        for key in &keys {
            cache.remove(key);
        }
    });
    Ok(())
}

/// Drops the cached lookups of every key of a platform, so a change of its billing state
/// (which gates live keys) shows within the isolate bound instead of the KV one.
///
/// # Errors
/// Storage failures.
pub async fn forget_platform(
    env: &Env,
    db: &worker::D1Database,
    platform_id: &str,
) -> Result<(), ApiError> {
    for (publishable, hashes) in crate::db::keys::platform_keys(db, platform_id).await? {
        forget(env, &hashes, Some(&publishable)).await?;
    }
    Ok(())
}
