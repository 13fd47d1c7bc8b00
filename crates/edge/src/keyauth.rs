//! The key lanes: an `sk_…` or `pk_…` resolved to its project, through an in-isolate cache,
//! then KV, then D1.
//!
//! Staleness bound: revoking a key, rotating it or deleting its project deletes the KV entry
//! at once and tells the api worker, whose answering isolate drops its own entry (see
//! [`forget`]), so a rotated key's grace ends on time there: the record carries the end and
//! every use checks it. Lookups in other isolates may still hit their own cache for up to
//! [`ISOLATE_TTL_MS`] (30 s), and KV itself may serve a deleted entry for up to 60 s in other
//! locations. A revoked key therefore stops working in this isolate at once and everywhere
//! within 90 s. A lookup in flight while the revoke commits cannot stretch that bound: every
//! such change bumps the project's `auth_version` in its batch, and a write-back stays in
//! KV only if the version it read is still current after the write (see [`lookup`]).
//!
//! Cost bound for unknown keys: keys that fail the checksum never reach storage; a
//! well-formed unknown key costs one KV read and one D1 query, is then refused from this
//! isolate for up to 5 s, and spends its client address's failure budget
//! (`AUTH_FAILURE_BUDGET` per minute, default 60). Found keys sit in an LRU map of
//! `KEY_CACHE_ENTRIES` (default 10,000), unknown ones in a separate smaller one, so no flood
//! of keys clears the cache. The order of these checks is [`authenticate`]'s.
//!
//! The cached record also carries the developer's billing standing (live keys fail closed
//! with 403 `live_mode_inactive` unless their Tollgate subscription is active, trialing or
//! past due) and the key's rate limit; both follow the same staleness bound.
//!
//! A secret key's use is recorded (`last_used_at`, for the keys page) at most once per key,
//! isolate and five minutes, so a cached key costs no write on almost every request.

use crate::db::{self, keys::KeyAuthRow};
use crate::{ApiError, Ctx, Environment, log, storage};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;
use tollgate::keycache::{Cached, FailureBudget, KeyCache, write_back_holds};
use tollgate::{ApiKey, KeyKind, Mode, Pepper, ProjectType};
use worker::Env;

/// How long a lookup stays in this isolate, unless `KEY_CACHE_SECONDS` says otherwise.
pub const ISOLATE_TTL_MS: i64 = 30_000;
/// How long a lookup stays in KV.
pub const KV_TTL_SECONDS: u64 = 300;
/// Found keys this isolate keeps; beyond it the least recently used one goes.
const MAX_FOUND: usize = 10_000;
/// Unknown keys this isolate remembers (for up to 5 s each), apart from found ones.
const MAX_MISSING: usize = 4_096;
/// Failed lookups a client address may cost storage per window, by default.
pub const DEFAULT_FAILURE_BUDGET: u32 = 60;
/// The failure budget's window.
const FAILURE_WINDOW_MS: i64 = 60_000;
/// Client addresses whose failures this isolate counts at once.
const MAX_BUDGET_CLIENTS: usize = 10_000;

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
    /// Made on first use, sized by `KEY_CACHE_ENTRIES`.
    static CACHE: RefCell<Option<KeyCache<ProjectAuth>>> = const { RefCell::new(None) };
    static BUDGET: RefCell<FailureBudget> =
        RefCell::new(FailureBudget::new(FAILURE_WINDOW_MS, MAX_BUDGET_CLIENTS));
    /// Key-lookup round trips so far: KV reads and D1 queries.
    static ROUND_TRIPS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    /// When this isolate last recorded each secret key's use (ms), by key id.
    static NOTED: RefCell<HashMap<String, i64>> = RefCell::new(HashMap::new());
}

/// Secret keys whose last use this isolate remembers; past it the memory starts over (the
/// cost is one more guarded write per key).
const MAX_NOTED_KEYS: usize = 10_000;

/// Records a secret key's use (`last_used_at`) when this isolate has not in the last
/// [`db::keys::LAST_USED_RESOLUTION_MS`]. Never fails the request: the time is a hint for
/// the keys page, and a lost write only leaves it a few minutes older.
async fn note_use(ctx: &Ctx, key_id: &str) {
    let now = ctx.now_ms;
    let due = NOTED.with(|noted| {
        let mut noted = noted.borrow_mut();
        if noted
            .get(key_id)
            .is_some_and(|at| now - at < db::keys::LAST_USED_RESOLUTION_MS)
        {
            return false;
        }
        if noted.len() >= MAX_NOTED_KEYS {
            noted.clear();
        }
        noted.insert(key_id.to_owned(), now);
        true
    });
    if !due {
        return;
    }
    let written = match db::database(&ctx.env) {
        Ok(database) => db::keys::used(&database, key_id, now).await,
        Err(error) => Err(error),
    };
    if let Err(error) = written {
        log::warn(&ctx.request_id, "key_last_used_failed", &error.for_log());
    }
}

fn with_cache<T>(env: &Env, f: impl FnOnce(&mut KeyCache<ProjectAuth>) -> T) -> T {
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        let cache = cache.get_or_insert_with(|| {
            let found = env
                .var("KEY_CACHE_ENTRIES")
                .ok()
                .and_then(|v| v.to_string().parse::<usize>().ok())
                .map_or(MAX_FOUND, |n| n.clamp(1, MAX_FOUND));
            KeyCache::new(found, MAX_MISSING)
        });
        f(cache)
    })
}

/// The key-lookup round trips this isolate made so far, as `kv=<reads>,d1=<queries>`:
/// development answers carry it, so tests can show which requests reached storage.
#[must_use]
pub fn round_trips() -> String {
    let (kv, d1) = ROUND_TRIPS.with(Cell::get);
    format!("kv={kv},d1={d1}")
}

fn count(kv: u64, d1: u64) {
    ROUND_TRIPS.with(|n| {
        let (k, d) = n.get();
        n.set((k + kv, d + d1));
    });
}

fn cache_key(kind: KeyKind, id: &str) -> String {
    match kind {
        KeyKind::Secret => format!("auth:sk:{id}"),
        KeyKind::Publishable => format!("auth:pk:{id}"),
    }
}

/// The isolate cache lifetime: `KEY_CACHE_SECONDS` (0–30), default 30 s.
fn isolate_ttl_ms(env: &Env) -> i64 {
    env.var("KEY_CACHE_SECONDS")
        .ok()
        .and_then(|v| v.to_string().parse::<i64>().ok())
        .map_or(ISOLATE_TTL_MS, |s| (s * 1000).clamp(0, ISOLATE_TTL_MS))
}

/// Failed lookups each client address may cost storage per minute: `AUTH_FAILURE_BUDGET`,
/// default [`DEFAULT_FAILURE_BUDGET`].
fn failure_budget(env: &Env) -> u32 {
    env.var("AUTH_FAILURE_BUDGET")
        .ok()
        .and_then(|v| v.to_string().parse::<u32>().ok())
        .unwrap_or(DEFAULT_FAILURE_BUDGET)
}

/// The key a request presents: `Authorization: Bearer sk_…` (secret lane) or
/// `X-Publishable-Key: pk_…` (public lane). The bearer wins when both are sent.
///
/// # Errors
/// 401 `missing_credentials` without either header, or with the wrong kind of credential
/// (a developer JWT, a key of the other kind for its header), named in the message; 401
/// `invalid_api_key` when the key is malformed — decided without any storage I/O.
pub fn presented(ctx: &Ctx) -> Result<ApiKey, ApiError> {
    if let Some(header) = ctx.header("Authorization")? {
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .unwrap_or_default();
        // The wrong kind of credential is named, so the caller knows what to send instead.
        if is_jwt(token) {
            return Err(ApiError::MissingCredentials(
                "This route takes an API key (`Authorization: Bearer sk_…` from a server, `X-Publishable-Key: pk_…` from a browser); a developer sign-in token (JWT) arrived, which is for the console routes (`/v1/…`).",
            ));
        }
        let key = ApiKey::parse(token).map_err(|_| ApiError::InvalidApiKey)?;
        return if key.kind() == KeyKind::Secret {
            Ok(key)
        } else {
            Err(ApiError::MissingCredentials(
                "A publishable key (pk_…) goes in `X-Publishable-Key`; `Authorization: Bearer` takes the secret key (sk_…).",
            ))
        };
    }
    if let Some(header) = ctx.header("X-Publishable-Key")? {
        let key = ApiKey::parse(header.trim()).map_err(|_| ApiError::InvalidApiKey)?;
        return if key.kind() == KeyKind::Publishable {
            Ok(key)
        } else {
            Err(ApiError::MissingCredentials(
                "A secret key (sk_…) goes in `Authorization: Bearer`, from a server only; `X-Publishable-Key` takes the publishable key (pk_…).",
            ))
        };
    }
    Err(ApiError::MissingCredentials(
        "Send `Authorization: Bearer sk_…` from a server or `X-Publishable-Key: pk_…` from a browser.",
    ))
}

/// Whether `token` has a JWT's shape (three dot-separated parts, a JSON header).
fn is_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.matches('.').count() == 2
}

/// Resolves a key to its project, or refuses it with 401 `invalid_api_key`.
///
/// Order, cheapest first: the checksum (done by [`presented`]); this isolate's cache (a
/// found key answers with no storage at all, an unknown one is refused the same way); then
/// the client address's failure budget, which guards only keys this isolate has never
/// served; then KV and D1. A failed lookup spends the budget. So a valid key this isolate
/// has served keeps working from an address that spent its budget on made-up keys, while
/// a key never seen here waits for the window like the made-up ones.
///
/// # Errors
/// [`ApiError::InvalidApiKey`] for unknown, revoked or expired keys and deleted projects;
/// [`ApiError::TooManyAuthFailures`] once the address spent its budget; internal errors for
/// storage failures.
pub async fn authenticate(
    ctx: &Ctx,
    key: &ApiKey,
    pepper: &Pepper,
) -> Result<ProjectAuth, ApiError> {
    let now = ctx.now_ms;
    let id = match key.kind() {
        KeyKind::Secret => key.hash(pepper),
        KeyKind::Publishable => key.expose().to_owned(),
    };
    let cache_key = cache_key(key.kind(), &id);
    let ttl = isolate_ttl_ms(&ctx.env);
    let cached = with_cache(&ctx.env, |cache| cache.get(&cache_key, now, ttl));
    let auth = match cached {
        Cached::Found(auth) => Some(auth),
        Cached::Missing => None,
        state => {
            let client = ctx.client_ip().unwrap_or_default();
            if matches!(state, Cached::Unknown) {
                let limit = failure_budget(&ctx.env);
                BUDGET
                    .with(|b| b.borrow_mut().check(&client, limit, now))
                    .map_err(ApiError::TooManyAuthFailures)?;
            }
            let epoch = with_cache(&ctx.env, |cache| cache.epoch());
            let found = lookup(ctx, key.kind(), &id, &cache_key).await?;
            with_cache(&ctx.env, |cache| match (&found.auth, found.current) {
                (Some(auth), true) => {
                    cache.found(cache_key, auth.clone(), now, epoch);
                }
                (None, true) => cache.missing(cache_key, now, epoch),
                (_, false) => {}
            });
            if found.auth.is_none() {
                BUDGET.with(|b| b.borrow_mut().fail(&client, now));
            }
            found.auth
        }
    };
    match auth {
        Some(auth) if auth.mode == key.mode() && auth.expires_at.is_none_or(|end| now < end) => {
            if auth.mode == Mode::Live && !auth.live_allowed {
                return Err(ApiError::LiveModeInactive);
            }
            if let Some(key_id) = &auth.key_id {
                note_use(ctx, key_id).await;
            }
            Ok(auth)
        }
        _ => Err(ApiError::InvalidApiKey),
    }
}

/// What storage answered, and whether it may be remembered in this isolate.
struct Lookup {
    auth: Option<ProjectAuth>,
    /// False when the project's key-lookup version moved while the lookup ran.
    current: bool,
}

async fn find(
    db: &worker::D1Database,
    kind: KeyKind,
    id: &str,
) -> Result<Option<(ProjectAuth, i64)>, ApiError> {
    count(0, 1);
    let (row, lane) = match kind {
        KeyKind::Secret => (db::keys::find_by_hash(db, id).await?, Lane::Secret),
        KeyKind::Publishable => (
            db::keys::find_by_publishable(db, id).await?,
            Lane::Publishable,
        ),
    };
    row.map(|row| {
        let version = row.auth_version;
        from_row(row, lane).map(|auth| (auth, version))
    })
    .transpose()
}

/// KV, then D1. A D1 answer is written back to KV, then the project's key-lookup version
/// is read again: if a revoke (or any change that bumps it) committed meanwhile, the
/// write-back is deleted and the answer comes from D1 as it is now. Either the change's own
/// `forget` runs after the write-back and deletes it, or this check sees the new version, so
/// a stale write-back never outlives the request that made it.
async fn lookup(ctx: &Ctx, kind: KeyKind, id: &str, cache_key: &str) -> Result<Lookup, ApiError> {
    let kv = ctx.env.kv(storage::CACHE)?;
    count(1, 0);
    // KV is only a cache: an entry this version cannot read (written before its shape
    // changed) or a failing KV read is a miss, answered from D1 below.
    if let Some(auth) = kv.get(cache_key).json::<ProjectAuth>().await.ok().flatten() {
        return Ok(Lookup {
            auth: Some(auth),
            current: true,
        });
    }
    let database = db::database(&ctx.env)?;
    let Some((auth, read)) = find(&database, kind, id).await? else {
        return Ok(Lookup {
            auth: None,
            current: true,
        });
    };
    write_back_delay(ctx).await;
    kv.put(cache_key, &auth)?
        .expiration_ttl(KV_TTL_SECONDS)
        .execute()
        .await?;
    count(0, 1);
    let now = db::keys::auth_version(&database, &auth.project_id).await?;
    if write_back_holds(read, now) {
        return Ok(Lookup {
            auth: Some(auth),
            current: true,
        });
    }
    kv.delete(cache_key).await?;
    Ok(Lookup {
        auth: find(&database, kind, id).await?.map(|(auth, _)| auth),
        current: false,
    })
}

/// Development only: `KEY_WRITE_BACK_DELAY_MS` holds a lookup between its D1 read and its
/// write-back, so a test can commit a revoke in between. Ignored everywhere else.
async fn write_back_delay(ctx: &Ctx) {
    if ctx.config.environment != Environment::Development {
        return;
    }
    let ms = ctx
        .env
        .var("KEY_WRITE_BACK_DELAY_MS")
        .ok()
        .and_then(|v| v.to_string().parse::<u64>().ok())
        .unwrap_or(0);
    if ms > 0 {
        worker::Delay::from(Duration::from_millis(ms.min(10_000))).await;
    }
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
    let expires_at = row.status.works_until(row.expires_at);
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

/// Drops cached lookups for these secret-key hashes and this publishable key, here, in KV,
/// and in the api worker's isolate that answers the notice (over the `API` service binding,
/// where this worker has one), so that isolate reads the changed record — a rotated key's
/// grace end, a revocation — on its next use instead of after [`ISOLATE_TTL_MS`].
///
/// # Errors
/// KV failures. A notice the api worker does not take is logged, not an error: the change
/// has committed, and that isolate's entry still ends within the isolate bound.
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
    forget_here(env, &keys);
    if let Err(err) = notify_api(env, &keys).await {
        worker::console_warn!(
            "{}",
            serde_json::json!({ "level": "warn", "event": "key_cache_notice", "cause": err.for_log() })
        );
    }
    Ok(())
}

/// Drops these cache entries from this isolate only.
fn forget_here(env: &Env, keys: &[String]) {
    with_cache(env, |cache| {
        for key in keys {
            cache.forget(key);
        }
    });
}

/// What a key change tells the api worker: the cache entries to drop, and when it was sent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ForgetNotice {
    cache_keys: Vec<String>,
    at: i64,
}

/// The path of the api worker's internal route that takes a [`ForgetNotice`].
pub const FORGET_NOTICE_PATH: &str = "/internal/keys/forget";

async fn notify_api(env: &Env, keys: &[String]) -> Result<(), ApiError> {
    if env.service("API").is_err() {
        return Ok(());
    }
    let notice = serde_json::to_string(&ForgetNotice {
        cache_keys: keys.to_vec(),
        at: crate::now_ms(),
    })?;
    let pepper = crate::secrets::pepper(env)?;
    let tag = tollgate::internal::sign(&pepper, notice.as_bytes());
    send_notice(env, "API", &tag, notice.into_bytes()).await
}

/// Posts a signed notice to the worker bound as `binding`.
async fn send_notice(env: &Env, binding: &str, tag: &str, notice: Vec<u8>) -> Result<(), ApiError> {
    let sibling = env.service(binding)?;
    let headers = worker::Headers::new();
    headers.set(tollgate::internal::HEADER, tag)?;
    headers.set("Content-Type", "application/json")?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(notice.as_slice()).into()));
    // The host is never resolved: a service binding goes straight to the worker.
    let answer = sibling
        .fetch(
            format!("https://sibling.internal{FORGET_NOTICE_PATH}"),
            Some(init),
        )
        .await?;
    match answer.status_code() {
        204 => Ok(()),
        status => Err(ApiError::internal(format!(
            "the worker bound as {binding} answered {status}"
        ))),
    }
}

/// `POST /internal/keys/forget` on the api worker: a sibling worker's [`ForgetNotice`],
/// signed under `KEY_PEPPER` (`tollgate::internal`), drops those entries from this isolate,
/// and is passed on as it came to the worker bound as `relay` (the api's billing half).
/// Anything unsigned, stale or malformed answers 404, like an unknown route.
///
/// # Errors
/// [`ApiError::NotFound`] for anything but a valid notice.
pub async fn take_forget_notice(
    ctx: &mut Ctx,
    relay: Option<&str>,
) -> Result<worker::Response, ApiError> {
    let tag = ctx
        .header(tollgate::internal::HEADER)?
        .ok_or(ApiError::NotFound)?;
    let bytes = crate::body::read(&mut ctx.req, 64 * 1024).await?;
    let notice: ForgetNotice = serde_json::from_slice(&bytes).map_err(|_| ApiError::NotFound)?;
    let pepper = crate::secrets::pepper(&ctx.env)?;
    let auth_keys = notice
        .cache_keys
        .iter()
        .all(|k| k.starts_with("auth:sk:") || k.starts_with("auth:pk:"));
    if !auth_keys || !tollgate::internal::verify(&pepper, &bytes, &tag, notice.at, ctx.now_ms) {
        return Err(ApiError::NotFound);
    }
    forget_here(&ctx.env, &notice.cache_keys);
    if let Some(binding) = relay
        && let Err(err) = send_notice(&ctx.env, binding, &tag, bytes).await
    {
        // As for the first notice: the isolate bound (`KEY_CACHE_SECONDS`) still holds.
        worker::console_warn!(
            "{}",
            serde_json::json!({ "level": "warn", "event": "key_cache_notice", "to": binding, "cause": err.for_log() })
        );
    }
    Ok(worker::Response::empty()?.with_status(204))
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
    // After the billing change committed and before the KV deletes, so a lookup that read
    // the old standing sees the new version when it checks its write-back.
    db::keys::bump_platform_auth_versions(db, platform_id).await?;
    for (publishable, hashes) in crate::db::keys::platform_keys(db, platform_id).await? {
        forget(env, &hashes, Some(&publishable)).await?;
    }
    Ok(())
}
