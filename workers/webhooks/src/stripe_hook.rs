//! `POST /webhook/stripe`: Stripe's deliveries for Tollgate's own account and every connected
//! account, both modes. The signature is checked on the raw bytes before anything is parsed;
//! a refused delivery has no effect at all.

use tollgate::stripe::events::Event;
use tollgate::stripe_signature::{self, DEFAULT_TOLERANCE_SECS, SignatureError};
use tollgate_edge::{ApiError, Ctx, body, json, secrets};
use worker::Response;

/// Stripe's events stay far below this; anything larger is not one of them.
const BODY_LIMIT: usize = 256 * 1024;

pub(crate) async fn receive(mut ctx: Ctx) -> Result<Response, ApiError> {
    let secrets = secrets::stripe_webhook_secrets(&ctx.env)?;
    let header = ctx
        .header("Stripe-Signature")?
        .ok_or(ApiError::InvalidSignature(SignatureError::MalformedHeader))?;
    // Raw bytes (the signature covers them exactly), refused once past the limit: an
    // announced oversize body before any read, an undeclared one at the chunk that crosses it.
    let payload = body::capped(&mut ctx.req, BODY_LIMIT).await?;
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    stripe_signature::verify(
        &header,
        &payload,
        &secrets,
        ctx.now_ms.div_euclid(1000),
        DEFAULT_TOLERANCE_SECS,
    )
    .map_err(ApiError::InvalidSignature)?;
    let event = Event::parse(&payload).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let receipt = crate::apply::apply(&ctx, &event, crate::apply::Again::No).await?;
    json(200, &receipt)
}
