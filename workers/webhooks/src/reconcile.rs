//! `POST /internal/reconcile`: a checkout session applied without waiting for its webhook,
//! for the api worker's `POST /api/checkout/{sessionId}/reconcile`. Reachable only over the
//! api worker's service binding: the body must carry its time and an HMAC under a key derived
//! from `KEY_PEPPER` (`tollgate::internal`); anything else answers 404, like an unknown route.
//!
//! The session is read from Stripe on its connected account and, when complete and paid
//! (`paid` or `no_payment_required`), applied by the very code that applies
//! `checkout.session.completed`; complete but unpaid answers `pending_payment` and applies
//! nothing. A paid session is recorded under an event id derived from the session: a second
//! reconcile is a duplicate, and the real webhook later finds the session complete and is
//! recorded without effects.

use crate::apply::{self, Again};
use serde::Deserialize;
use serde_json::json;
use tollgate::Mode;
use tollgate::internal;
use tollgate::stripe::calls::retrieve_checkout_session_object;
use tollgate::stripe::events::Event;
use tollgate_edge::db;
use tollgate_edge::db::event_reads::{self, Session};
use tollgate_edge::stripe::StripeClient;
use tollgate_edge::{ApiError, Ctx, body, json, secrets};
use worker::Response;

/// What the api worker asks.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Ask {
    session_id: String,
    project_id: String,
    at: i64,
}

pub(crate) async fn reconcile(mut ctx: Ctx) -> Result<Response, ApiError> {
    let tag = ctx.header(internal::HEADER)?.ok_or(ApiError::NotFound)?;
    let bytes = body::read(&mut ctx.req, 4096).await?;
    let ask: Ask = serde_json::from_slice(&bytes).map_err(|_| ApiError::NotFound)?;
    let pepper = secrets::pepper(&ctx.env)?;
    if !internal::verify(&pepper, &bytes, &tag, ask.at, ctx.now_ms) {
        return Err(ApiError::NotFound);
    }
    let db = db::database(&ctx.env)?;
    // The session and its project's owner in one read; a deleted project has no owner.
    let found = event_reads::rows(
        &db,
        &Session {
            id: &ask.session_id,
        },
    )
    .await?;
    let row = found
        .row
        .filter(|row| row.project_id == ask.project_id)
        .ok_or(ApiError::NotFound)?;
    let project = found.owner.ok_or(ApiError::NotFound)?;
    let mode = if project.mode == "live" {
        Mode::Live
    } else {
        Mode::Test
    };
    let session = StripeClient::from_env(&ctx.env, mode)?
        .send(&retrieve_checkout_session_object(&row.account_id, &row.id))
        .await?;
    let status = session["status"].as_str().unwrap_or("open").to_owned();
    if status != "complete" {
        // Not paid (or expired): nothing to apply; the webhook settles it when it comes.
        return json(200, &json!({ "status": status, "receipt": null }));
    }
    if !matches!(
        session["payment_status"].as_str(),
        Some("paid" | "no_payment_required")
    ) {
        // Complete but unpaid (a delayed method): nothing is granted until the money is in;
        // `checkout.session.async_payment_succeeded`, or a later reconcile, applies it.
        return json(
            200,
            &json!({ "status": "pending_payment", "receipt": null }),
        );
    }
    let event = Event {
        id: format!("evt_reconcile_{}", row.id),
        kind: "checkout.session.completed".to_owned(),
        // Whole seconds, as Stripe's own events: a subscription event of the same second
        // still applies over the state read now.
        created: ctx.now_ms.div_euclid(1000),
        account: Some(row.account_id),
        livemode: mode == Mode::Live,
        object: session,
        previous_attributes: None,
    };
    let receipt = apply::apply(&ctx, &event, Again::No).await?;
    json(200, &json!({ "status": status, "receipt": receipt }))
}
