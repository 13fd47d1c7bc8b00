//! Developer identity: RS256 JWTs from the configured OIDC issuer, verified against its JWKS.
//! The same verification serves end-user JWTs from a project's own identity provider.
//!
//! Keys are cached in this isolate for [`ISOLATE_TTL_MS`] and in KV for [`KV_TTL_SECONDS`], so
//! a key the issuer retires stops verifying within an hour and ten minutes at most. A token
//! whose `kid` is unknown triggers one fetch from the issuer (at most one per
//! [`REFETCH_INTERVAL_MS`] per isolate, so random `kid`s cannot turn into a fetch storm).

use crate::crypto::{self, Key};
use crate::{ApiError, storage};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use tollgate::jwt::{self, Expectations, TokenError};
use worker::{Env, Fetch, Method, Request};

/// How long imported keys stay in this isolate.
pub const ISOLATE_TTL_MS: i64 = 10 * 60 * 1000;
/// How long a fetched JWKS stays in KV.
pub const KV_TTL_SECONDS: u64 = 60 * 60;
/// The shortest interval between two forced fetches of one JWKS.
pub const REFETCH_INTERVAL_MS: i64 = 30 * 1000;

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
}

impl DeveloperAuth {
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub const LEEWAY_SECONDS: i64 = 60;

    /// Reads `DEVELOPER_ISSUER`, `DEVELOPER_AUDIENCE`, `DEVELOPER_JWKS_URL` and
    /// `FRESH_AUTH_SECONDS` (default 600).
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
        Ok(Self {
            issuer: var("DEVELOPER_ISSUER")?,
            audience: var("DEVELOPER_AUDIENCE")?,
            jwks_url: var("DEVELOPER_JWKS_URL")?,
            fresh_seconds,
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

/// Verifies `Authorization: Bearer <JWT>` and returns the developer.
///
/// # Errors
/// 401 for a missing or refused token; 500 when the issuer cannot be reached.
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
    let claims = verify(
        env,
        token,
        &Issuer {
            issuer: &auth.issuer,
            audience: &auth.audience,
            jwks_url: &auth.jwks_url,
        },
        now_ms,
    )
    .await?;
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
}

/// Verifies an RS256 JWT from `issuer`: claims (with [`DeveloperAuth::LEEWAY_SECONDS`] of
/// leeway) and the signature against the issuer's JWKS. Shared by the developer lane and
/// end-user tokens from a project's own identity provider.
///
/// # Errors
/// 401 `invalid_token` naming the rule that failed; 500 when the JWKS cannot be fetched.
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
    let key = signing_key(env, issuer.jwks_url, &kid, now_ms).await?;
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

async fn signing_key(env: &Env, url: &str, kid: &str, now_ms: i64) -> Result<Key, ApiError> {
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
    let document = fetch_jwks(url).await?;
    load(url, &document, now_ms, true).await?;
    kv.put(&kv_key, &document)?
        .expiration_ttl(KV_TTL_SECONDS)
        .execute()
        .await?;
    cached(url, kid, now_ms).ok_or_else(|| TokenError::UnknownKey.into())
}

async fn fetch_jwks(url: &str) -> Result<String, ApiError> {
    // A request built from the string: parsing it with the `url` crate would pull its
    // Unicode tables (~100 KB) into the worker.
    let request = Request::new(url, Method::Get)
        .map_err(|e| ApiError::internal(format!("DEVELOPER_JWKS_URL: {e}")))?;
    let mut response = Fetch::Request(request)
        .send()
        .await
        .map_err(|e| ApiError::internal(format!("JWKS fetch failed: {e}")))?;
    if response.status_code() != 200 {
        return Err(ApiError::internal(format!(
            "JWKS fetch answered {}",
            response.status_code()
        )));
    }
    Ok(response.text().await?)
}

async fn load(url: &str, document: &str, now_ms: i64, forced: bool) -> Result<(), ApiError> {
    let jwks: Jwks = serde_json::from_str(document)
        .map_err(|e| ApiError::internal(format!("JWKS is not JSON: {e}")))?;
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
            .map_err(|e| ApiError::internal(format!("JWKS key {kid}: {}", e.0)))?;
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
