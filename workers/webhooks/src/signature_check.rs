//! `POST /dev/stripe-signature` (development only): verifies a `Stripe-Signature` header over
//! the raw body with the core's check, so the official Stripe library can sign in Node and
//! Rust can be shown to agree with it, including on every refusal.
//!
//! Headers: `Stripe-Signature`, `X-Signing-Secret` (one secret, or several separated by
//! commas, as during a rotation) and optionally `X-Tolerance-Seconds` (default 300).

use serde_json::json;
use tollgate::stripe_signature::{self, DEFAULT_TOLERANCE_SECS};
use tollgate_edge::{ApiError, Ctx, json};
use worker::Response;

/// Stripe's own payloads stay far below this.
const BODY_LIMIT: usize = 512 * 1024;

pub(crate) async fn check(mut ctx: Ctx) -> Result<Response, ApiError> {
    let header = ctx
        .header("Stripe-Signature")?
        .ok_or_else(|| ApiError::field("Stripe-Signature", "is required"))?;
    let secrets = ctx
        .header("X-Signing-Secret")?
        .ok_or_else(|| ApiError::field("X-Signing-Secret", "is required"))?;
    let tolerance = match ctx.header("X-Tolerance-Seconds")? {
        None => DEFAULT_TOLERANCE_SECS,
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|t| *t >= 0)
            .ok_or_else(|| ApiError::field("X-Tolerance-Seconds", "must be a whole number ≥ 0"))?,
    };
    let payload = ctx.req.bytes().await?;
    if payload.len() > BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge(BODY_LIMIT));
    }
    let secrets: Vec<&str> = secrets
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let timestamp = stripe_signature::verify(
        &header,
        &payload,
        &secrets,
        ctx.now_ms.div_euclid(1000),
        tolerance,
    )
    .map_err(ApiError::InvalidSignature)?;
    json(200, &json!({ "valid": true, "timestamp": timestamp }))
}
