//! The development identity issuer: an RSA key pair from the local stack's secrets, its JWKS,
//! and the minting of any token the tests need — valid, expired, for another audience or
//! issuer, not yet valid, signed under an unknown `kid`, or with an old sign-in. The platform
//! worker serves it only when `ENVIRONMENT=development`.

use crate::ApiError;
use crate::crypto;
use crate::developer::DeveloperAuth;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate::jwt::{self, Header};
use worker::Env;

fn private_jwk(env: &Env) -> Result<Value, ApiError> {
    let raw = env
        .secret("DEV_ISSUER_KEY")
        .map_err(|_| ApiError::internal("DEV_ISSUER_KEY is not configured"))?
        .to_string();
    serde_json::from_str(&raw)
        .map_err(|e| ApiError::internal(format!("DEV_ISSUER_KEY is not a JWK: {e}")))
}

/// The issuer's public keys.
///
/// # Errors
/// When the issuer key is missing or not an RSA JWK with a `kid`.
pub fn jwks(env: &Env) -> Result<Value, ApiError> {
    let jwk = private_jwk(env)?;
    let public = json!({ "kty": jwk["kty"], "kid": jwk["kid"], "n": jwk["n"], "e": jwk["e"], "alg": jwt::ALGORITHM, "use": "sig" });
    if public["kty"] != "RSA" || !public["kid"].is_string() {
        return Err(ApiError::internal(
            "DEV_ISSUER_KEY must be an RSA JWK with a kid",
        ));
    }
    Ok(json!({ "keys": [public] }))
}

/// What a test asks the development issuer for. Times are seconds relative to now.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenRequest {
    /// The developer's subject.
    pub sub: String,
    /// Their email.
    pub email: Option<String>,
    /// Audience override (string or array); default: the configured audience.
    pub aud: Option<Value>,
    /// Issuer override; default: the configured issuer.
    pub iss: Option<String>,
    /// Lifetime; negative for an already expired token. Default 3600.
    pub expires_in: Option<i64>,
    /// Seconds until the token becomes valid (`nbf`).
    pub not_before: Option<i64>,
    /// Seconds since the sign-in (`auth_time`). Default 0.
    pub auth_age: Option<i64>,
    /// Header `kid` override, to sign under a key the JWKS does not list.
    pub kid: Option<String>,
}

/// Signs a token as the development issuer.
///
/// # Errors
/// Field errors for an empty subject; internal errors when the issuer key is unusable.
pub async fn mint(
    env: &Env,
    auth: &DeveloperAuth,
    request: TokenRequest,
    now_s: i64,
) -> Result<String, ApiError> {
    if request.sub.trim().is_empty() || request.sub.len() > 255 {
        return Err(ApiError::field("sub", "must be 1–255 characters"));
    }
    let jwk = private_jwk(env)?;
    let key = crypto::import_rs256_private(&jwk.to_string())
        .await
        .map_err(|e| ApiError::internal(format!("DEV_ISSUER_KEY: {}", e.0)))?;
    let kid = request
        .kid
        .unwrap_or_else(|| jwk["kid"].as_str().unwrap_or_default().to_owned());
    let header = Header {
        alg: jwt::ALGORITHM.to_owned(),
        kid: Some(kid),
        typ: Some("JWT".to_owned()),
    };
    let mut claims = json!({
        "iss": request.iss.unwrap_or_else(|| auth.issuer.clone()),
        "sub": request.sub,
        "aud": request.aud.unwrap_or_else(|| Value::String(auth.audience.clone())),
        "iat": now_s,
        "auth_time": now_s - request.auth_age.unwrap_or(0),
        "exp": now_s + request.expires_in.unwrap_or(3600),
    });
    if let Some(email) = request.email {
        claims["email"] = Value::String(email);
    }
    if let Some(delay) = request.not_before {
        claims["nbf"] = Value::from(now_s + delay);
    }
    let input = jwt::signing_input(&header, &claims)?;
    let signature = crypto::sign_rs256(&key, input.as_bytes())
        .await
        .map_err(|e| ApiError::internal(format!("sign: {}", e.0)))?;
    Ok(jwt::assemble(&input, &signature))
}
