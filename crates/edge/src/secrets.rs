//! Server-side secrets, read only through `env.secret` and never logged: the key pepper, the
//! data-encryption key and the download-token key. A missing or weak secret is an internal
//! error (fail closed).

use crate::ApiError;
use crate::crypto::{self, Key};
use std::cell::RefCell;
use tollgate::Pepper;
use tollgate::download::SigningKey;
use worker::Env;

fn secret(env: &Env, name: &str) -> Result<String, ApiError> {
    env.secret(name)
        .map(|s| s.to_string())
        .map_err(|_| ApiError::internal(format!("secret {name} is not configured")))
}

/// `KEY_PEPPER`: mixed into every stored secret-key hash (at least 32 bytes).
///
/// # Errors
/// When it is missing or shorter than 32 bytes.
pub fn pepper(env: &Env) -> Result<Pepper, ApiError> {
    Pepper::new(&secret(env, "KEY_PEPPER")?)
        .ok_or_else(|| ApiError::internal("KEY_PEPPER is shorter than 32 bytes"))
}

/// `DOWNLOAD_SIGNING_KEY`: signs download tokens (at least 32 bytes).
///
/// # Errors
/// When it is missing or shorter than 32 bytes.
pub fn download_key(env: &Env) -> Result<SigningKey, ApiError> {
    SigningKey::new(&secret(env, "DOWNLOAD_SIGNING_KEY")?)
        .ok_or_else(|| ApiError::internal("DOWNLOAD_SIGNING_KEY is shorter than 32 bytes"))
}

/// The Stripe webhook signing secrets, each with the mode of its Stripe endpoint:
/// `STRIPE_WEBHOOK_SECRET` (test mode, required) and `STRIPE_WEBHOOK_SECRET_PREVIOUS` (its
/// predecessor while it rolls), `STRIPE_WEBHOOK_SECRET_LIVE` and
/// `STRIPE_WEBHOOK_SECRET_LIVE_PREVIOUS` (live mode) when set. A signature under a secret of
/// the event's own mode is accepted, so a secret can be rolled without losing deliveries.
///
/// # Errors
/// When `STRIPE_WEBHOOK_SECRET` is missing or empty.
pub fn stripe_webhook_secrets(env: &Env) -> Result<Vec<(String, bool)>, ApiError> {
    let required = secret(env, "STRIPE_WEBHOOK_SECRET")?;
    if required.trim().is_empty() {
        return Err(ApiError::internal("STRIPE_WEBHOOK_SECRET is empty"));
    }
    let mut all = vec![(required, false)];
    for (name, livemode) in [
        ("STRIPE_WEBHOOK_SECRET_PREVIOUS", false),
        ("STRIPE_WEBHOOK_SECRET_LIVE", true),
        ("STRIPE_WEBHOOK_SECRET_LIVE_PREVIOUS", true),
    ] {
        if let Ok(value) = secret(env, name)
            && !value.trim().is_empty()
        {
            all.push((value, livemode));
        }
    }
    Ok(all)
}

thread_local! {
    static DATA_KEY: RefCell<Option<Key>> = const { RefCell::new(None) };
}

/// `DATA_ENCRYPTION_KEY`: AES-256-GCM key (base64 of 32 bytes) for data sealed at rest.
///
/// # Errors
/// When it is missing or malformed.
pub async fn data_key(env: &Env) -> Result<Key, ApiError> {
    if let Some(key) = DATA_KEY.with(|k| k.borrow().clone()) {
        return Ok(key);
    }
    let key = crypto::import_aes_gcm(&secret(env, "DATA_ENCRYPTION_KEY")?)
        .await
        .map_err(|e| ApiError::internal(format!("DATA_ENCRYPTION_KEY: {}", e.0)))?;
    DATA_KEY.with(|k| *k.borrow_mut() = Some(key.clone()));
    Ok(key)
}
