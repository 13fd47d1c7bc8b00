//! Developer identity: RS256 JWTs from the configured OIDC issuer, verified against its JWKS.
//! The same verification serves end-user JWTs from a project's own identity provider.
//!
//! Keys are cached in this isolate for [`ISOLATE_TTL_MS`] and in KV for [`KV_TTL_SECONDS`], so
//! a key the issuer retires stops verifying within an hour and ten minutes at most. A token
//! whose `kid` is unknown triggers one fetch from the issuer (at most one per
//! [`REFETCH_INTERVAL_MS`] per isolate, so random `kid`s cannot turn into a fetch storm).
//!
//! A project names its own provider's JWKS URL, so the fetch is outbound traffic a tenant
//! steers: the URL must pass the webhook endpoint host rules (again at fetch time, for rows
//! saved before the rule), redirects are not followed, the document is read up to
//! [`MAX_JWKS_BYTES`] and no further, and every fetch — failed ones included — spends one of
//! [`FETCH_BUDGET`] per [`FETCH_WINDOW_MS`] for its project (or for the developer issuer) in
//! this isolate; between fetches the caches answer or the token is refused.

use crate::crypto::{self, Key};
use crate::{ApiError, Config, Environment, ratelimit, storage};
use futures_util::StreamExt;
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use tollgate::Mode;
use tollgate::jwt::{self, Expectations, TokenError};
use tollgate::outbound::{Reach, check_url};
use worker::{Env, Fetch, Method, Request, RequestInit, RequestRedirect};

/// How long imported keys stay in this isolate.
pub const ISOLATE_TTL_MS: i64 = 10 * 60 * 1000;
/// How long a fetched JWKS stays in KV.
pub const KV_TTL_SECONDS: u64 = 60 * 60;
/// The shortest interval between two forced fetches of one JWKS.
pub const REFETCH_INTERVAL_MS: i64 = 30 * 1000;
/// The largest JWKS document read, in bytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Fetches one project (or the developer issuer) may cause per window, in each isolate.
pub const FETCH_BUDGET: u32 = 4;
/// The fetch budget's window.
pub const FETCH_WINDOW_MS: i64 = 60 * 1000;

/// Where developer tokens come from and what they must say.
#[derive(Clone, Debug)]
pub struct DeveloperAuth {
    /// The trusted `iss`.
    pub issuer: String,
    /// The audience that must be in `aud`.
    pub audience: String,
    /// The issuer's JWKS URL.
    pub jwks_url: String,
    /// How recent a sign-in must be for fresh writes, in seconds.
    pub fresh_seconds: i64,
    /// Requests per second one developer identity may make (per isolate).
    pub rate_limit: u32,
}

impl DeveloperAuth {
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub const LEEWAY_SECONDS: i64 = 60;
    /// Requests per second per developer identity when `DEVELOPER_RATE_LIMIT` is unset.
    pub const DEFAULT_RATE_LIMIT: u32 = 50;

    /// Reads `DEVELOPER_ISSUER`, `DEVELOPER_AUDIENCE`, `DEVELOPER_JWKS_URL`,
    /// `FRESH_AUTH_SECONDS` (default 600) and `DEVELOPER_RATE_LIMIT` (default 50; a value
    /// that is not a positive number falls back to it).
    ///
    /// # Errors
    /// An internal error naming the missing variable: a platform without an issuer must not
    /// answer as if the caller's token were wrong.
    pub fn from_env(env: &Env) -> Result<Self, ApiError> {
        let var = |name: &str| {
            env.var(name)
                .map(|v| v.to_string())
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ApiError::internal(format!("{name} is not configured")))
        };
        let fresh_seconds = match env.var("FRESH_AUTH_SECONDS") {
            Ok(v) => v
                .to_string()
                .parse()
                .map_err(|_| ApiError::internal("FRESH_AUTH_SECONDS is not a number"))?,
            Err(_) => 600,
        };
        let rate_limit = env
            .var("DEVELOPER_RATE_LIMIT")
            .ok()
            .and_then(|v| v.to_string().trim().parse::<u32>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(Self::DEFAULT_RATE_LIMIT);
        Ok(Self {
            issuer: var("DEVELOPER_ISSUER")?,
            audience: var("DEVELOPER_AUDIENCE")?,
            jwks_url: var("DEVELOPER_JWKS_URL")?,
            fresh_seconds,
            rate_limit,
        })
    }
}

/// A developer whose token verified.
#[derive(Clone, Debug)]
pub struct Developer {
    /// The issuer that vouched for them.
    pub issuer: String,
    /// Their stable id at the issuer.
    pub subject: String,
    /// Their email, when the issuer shares it.
    pub email: Option<String>,
    /// When they last signed in (Unix seconds).
    pub signed_in_at: Option<i64>,
}

impl Developer {
    /// Refuses unless the sign-in is at most `max_age` seconds old.
    ///
    /// # Errors
    /// [`ApiError::ReauthenticationRequired`].
    pub fn require_fresh(&self, now_s: i64, max_age: i64) -> Result<(), ApiError> {
        match self.signed_in_at {
            Some(at) if now_s - at <= max_age => Ok(()),
            _ => Err(ApiError::ReauthenticationRequired),
        }
    }
}

/// Verifies `Authorization: Bearer <JWT>` and returns the developer, counted against the
/// identity's requests per second (after the verification, so a forged token cannot spend
/// another developer's allowance).
///
/// # Errors
/// 401 for a missing or refused token; 429 `rate_limited` past [`DeveloperAuth::rate_limit`];
/// 500 when the issuer cannot be reached.
pub async fn authenticate(
    req: &Request,
    env: &Env,
    auth: &DeveloperAuth,
    now_ms: i64,
) -> Result<Developer, ApiError> {
    let header = req.headers().get("Authorization")?.unwrap_or_default();
    let Some(token) = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(ApiError::MissingCredentials(
            "Send the developer token as `Authorization: Bearer <JWT>`.",
        ));
    };
    // An API key where the sign-in token belongs: say so, rather than "malformed".
    if token.starts_with("sk_") || token.starts_with("pk_") {
        return Err(ApiError::MissingCredentials(
            "This route takes the developer sign-in token (a JWT) as `Authorization: Bearer`; an API key arrived. API keys are for the customer API (`/api/…`).",
        ));
    }
    let claims = verify(
        env,
        token,
        &Issuer {
            issuer: &auth.issuer,
            audience: &auth.audience,
            jwks_url: &auth.jwks_url,
            project: None,
        },
        now_ms,
    )
    .await
    .map_err(|err| match err {
        // The operator's own issuer failing is Tollgate's failure: an opaque, logged 500.
        ApiError::JwksUnavailable(cause) => ApiError::internal(cause),
        other => other,
    })?;
    ratelimit::admit(
        &format!("dev:{}|{}", claims.iss, claims.sub),
        auth.rate_limit,
        now_ms,
    )?;
    let signed_in_at = claims.signed_in_at();
    Ok(Developer {
        issuer: claims.iss,
        subject: claims.sub,
        email: claims.email,
        signed_in_at,
    })
}

/// An OIDC issuer whose RS256 tokens are trusted for one purpose.
#[derive(Clone, Copy, Debug)]
pub struct Issuer<'a> {
    /// The `iss` its tokens carry.
    pub issuer: &'a str,
    /// The audience that must be in `aud`.
    pub audience: &'a str,
    /// Where its public keys are.
    pub jwks_url: &'a str,
    /// The project whose own provider this is (its URL obeys the host rules and its fetches
    /// spend the project's budget); `None` for the configured developer issuer.
    pub project: Option<&'a str>,
}

/// Verifies an RS256 JWT from `issuer`: claims (with [`DeveloperAuth::LEEWAY_SECONDS`] of
/// leeway) and the signature against the issuer's JWKS. Shared by the developer lane and
/// end-user tokens from a project's own identity provider.
///
/// # Errors
/// 401 `invalid_token` naming the rule that failed; [`ApiError::JwksUnavailable`] when no
/// usable JWKS could be fetched (refused URL, redirect, oversized body, other status, spent
/// budget).
pub async fn verify(
    env: &Env,
    token: &str,
    issuer: &Issuer<'_>,
    now_ms: i64,
) -> Result<jwt::Claims, ApiError> {
    let token = jwt::decode(token)?;
    let expected = Expectations {
        issuer: issuer.issuer,
        audience: issuer.audience,
        leeway: DeveloperAuth::LEEWAY_SECONDS,
    };
    token.claims.check(&expected, now_ms / 1000)?;
    let kid = token.header.kid.clone().unwrap_or_default();
    let key = signing_key(env, issuer, &kid, now_ms).await?;
    let valid = crypto::verify_rs256(&key, &token.signature, token.signing_input.as_bytes())
        .await
        .map_err(|e| ApiError::internal(format!("verify: {}", e.0)))?;
    if !valid {
        return Err(TokenError::Signature.into());
    }
    Ok(token.claims)
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<serde_json::Value>,
}

struct CachedJwks {
    keys: HashMap<String, Key>,
    loaded_at: i64,
    forced_at: i64,
}

thread_local! {
    static JWKS: RefCell<HashMap<String, CachedJwks>> = RefCell::new(HashMap::new());
}

fn cached(url: &str, kid: &str, now_ms: i64) -> Option<Key> {
    JWKS.with(|cache| {
        let cache = cache.borrow();
        let entry = cache.get(url)?;
        (now_ms - entry.loaded_at < ISOLATE_TTL_MS)
            .then(|| entry.keys.get(kid).cloned())
            .flatten()
    })
}

async fn signing_key(
    env: &Env,
    issuer: &Issuer<'_>,
    kid: &str,
    now_ms: i64,
) -> Result<Key, ApiError> {
    let url = issuer.jwks_url;
    if let Some(key) = cached(url, kid, now_ms) {
        return Ok(key);
    }
    let kv = env.kv(storage::CACHE)?;
    let kv_key = format!("jwks:v1:{url}");
    let from_kv = kv.get(&kv_key).text().await?;
    if let Some(document) = from_kv.as_deref() {
        load(url, document, now_ms, false).await?;
        if let Some(key) = cached(url, kid, now_ms) {
            return Ok(key);
        }
    }
    let may_force = JWKS.with(|cache| {
        cache
            .borrow()
            .get(url)
            .is_none_or(|e| now_ms - e.forced_at >= REFETCH_INTERVAL_MS)
    });
    if from_kv.is_some() && !may_force {
        return Err(TokenError::UnknownKey.into());
    }
    let budget = format!("jwks:{}", issuer.project.unwrap_or("developer"));
    if !ratelimit::spend(&budget, FETCH_BUDGET, FETCH_WINDOW_MS, now_ms) {
        return Err(if from_kv.is_some() {
            TokenError::UnknownKey.into()
        } else {
            ApiError::JwksUnavailable("JWKS fetch budget spent".into())
        });
    }
    if issuer.project.is_some() {
        let reach = match Config::from_env(env).environment {
            Environment::Development => Reach::new(Mode::Test, true),
            Environment::Production => Reach::new(Mode::Live, false),
        };
        check_url(url, reach)
            .map_err(|why| ApiError::JwksUnavailable(format!("JWKS URL {why}")))?;
    }
    let document = fetch_jwks(url).await?;
    load(url, &document, now_ms, true).await?;
    kv.put(&kv_key, &document)?
        .expiration_ttl(KV_TTL_SECONDS)
        .execute()
        .await?;
    cached(url, kid, now_ms).ok_or_else(|| TokenError::UnknownKey.into())
}

async fn fetch_jwks(url: &str) -> Result<String, ApiError> {
    let unavailable = |why: String| ApiError::JwksUnavailable(format!("JWKS {url}: {why}"));
    // A request built from the string: parsing it with the `url` crate would pull its
    // Unicode tables (~100 KB) into the worker.
    let mut init = RequestInit::new();
    init.with_method(Method::Get)
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).map_err(|e| unavailable(e.to_string()))?;
    let mut response = Fetch::Request(request)
        .send()
        .await
        .map_err(|e| unavailable(format!("fetch failed: {e}")))?;
    // A 3xx lands here too: redirects are not followed.
    let status = response.status_code();
    if status != 200 {
        return Err(unavailable(format!("answered {status}")));
    }
    let declared = response
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || unavailable(format!("is larger than {MAX_JWKS_BYTES} bytes"));
    if declared.is_some_and(|n| n > MAX_JWKS_BYTES) {
        return Err(too_large());
    }
    // Streamed: a body without a length (or lying about it) stops at the cap, unread beyond.
    let mut body = Vec::new();
    let mut chunks = response.stream()?;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| unavailable("is not UTF-8".into()))
}

async fn load(url: &str, document: &str, now_ms: i64, forced: bool) -> Result<(), ApiError> {
    let jwks: Jwks = serde_json::from_str(document)
        .map_err(|e| ApiError::JwksUnavailable(format!("JWKS is not JSON: {e}")))?;
    let mut keys = HashMap::new();
    for jwk in jwks.keys {
        let usable = jwk["kty"] == "RSA"
            && jwk.get("use").is_none_or(|u| u == "sig")
            && jwk.get("alg").is_none_or(|a| a == jwt::ALGORITHM);
        let Some(kid) = jwk["kid"].as_str().map(str::to_owned) else {
            continue;
        };
        if !usable {
            continue;
        }
        let key = crypto::import_rs256_public(&jwk.to_string())
            .await
            .map_err(|e| ApiError::JwksUnavailable(format!("JWKS key {kid}: {}", e.0)))?;
        keys.insert(kid, key);
    }
    JWKS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let forced_at = if forced {
            now_ms
        } else {
            cache.get(url).map_or(0, |e| e.forced_at)
        };
        cache.insert(
            url.to_owned(),
            CachedJwks {
                keys,
                loaded_at: now_ms,
                forced_at,
            },
        );
    });
    Ok(())
}
