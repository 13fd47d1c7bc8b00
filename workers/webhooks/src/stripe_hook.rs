//! `POST /webhook/stripe`: Stripe's deliveries for Tollgate's own account and every connected
//! account, both modes. The signature is checked on the raw bytes before anything is parsed;
//! a refused delivery has no effect at all.
//!
//! Each secret belongs to a mode. A `livemode: true` event signed only by a test secret is
//! refused: that is a forgery by whoever holds the test secret, which Stripe never sends. A
//! `livemode: false` event signed only by a live secret is not applied either, but it is
//! acknowledged: Stripe really does send connected accounts' test events to the platform's
//! live Connect endpoint as well as to its test one, and the test endpoint's copy is the one
//! that counts. Refusing it would only make Stripe retry it for days and flag the endpoint.

use tollgate::stripe::events::{Event, Outcome, Receipt};
use tollgate::stripe_signature::{self, DEFAULT_TOLERANCE_SECS, ModeSecret, SignatureError};
use tollgate_edge::{ApiError, Ctx, body, json, log, secrets};
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
    let secrets: Vec<ModeSecret<'_>> = secrets
        .iter()
        .map(|(secret, livemode)| ModeSecret {
            secret,
            livemode: *livemode,
        })
        .collect();
    let verified = stripe_signature::verify_modes(
        &header,
        &payload,
        &secrets,
        ctx.now_ms.div_euclid(1000),
        DEFAULT_TOLERANCE_SECS,
    )
    .map_err(ApiError::InvalidSignature)?;
    let event = Event::parse(&payload).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    if let Err(mismatch) = verified.admits(event.livemode) {
        if event.livemode {
            return Err(ApiError::InvalidSignature(mismatch));
        }
        log::warn(
            &ctx.request_id,
            "stripe_event_other_mode",
            &format!("{} (test mode) under a live secret: not applied", event.id),
        );
        return json(200, &Receipt::first(Outcome::Unrelated));
    }
    let receipt = crate::apply::apply(&ctx, &event, crate::apply::Again::No).await?;
    json(200, &receipt)
}
