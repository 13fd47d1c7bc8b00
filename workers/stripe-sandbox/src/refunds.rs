//! Charges, refunds and disputes: the charge a paid payment intent gets, `POST /v1/refunds`
//! (full or partial, by charge or payment intent, firing `refund.created` and
//! `charge.refunded`), and the test controls that open a dispute on a charge and close it
//! won or lost (`charge.dispute.created`, `charge.dispute.closed`).

use crate::call::{Call, Outcome};
use crate::http::Fail;
use crate::model::charges;
use crate::model::error::StripeError;
use crate::model::events::Draft;
use crate::model::params::Params;
use crate::model::{Stamp, text};
use crate::resources::existing;
use crate::store::{Scope, Store};
use serde_json::Value;
use tollgate::ids::{base62_u128, new_id, random_u128};
use worker::D1PreparedStatement;

/// Stores the payment intent with the succeeded charge that paid it (`latest_charge`); an
/// intent still `processing` (a delayed method) is stored as it is, with no charge yet.
/// `settled` says the intent is stored already and is replaced, not inserted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn charge_intent(
    store: &Store,
    scope: &Scope,
    intent: &Value,
    email: Option<&str>,
    stamp: Stamp,
    now_ms: i64,
    settled: bool,
    writes: &mut Vec<D1PreparedStatement>,
) -> Result<(), Fail> {
    let stored = if text(intent, "status") == Some("succeeded") {
        let charge = charges::charge(&new_id("ch"), intent, email, stamp);
        writes.push(store.insert(scope, "charge", &charge, now_ms)?);
        charges::charged(intent, &charge)
    } else {
        intent.clone()
    };
    writes.push(if settled {
        store.replace(scope, &stored)?
    } else {
        store.insert(scope, "payment_intent", &stored, now_ms)?
    });
    Ok(())
}

/// Charges what a paid invoice took, as the customer's card on file pays a subscription's
/// invoice: a succeeded payment intent and its charge, which refunds and disputes then act
/// on. An invoice that took nothing (open, a trial's, a zero total) is charged nothing.
pub(crate) fn charge_invoice(
    store: &Store,
    scope: &Scope,
    invoice: &Value,
    stamp: Stamp,
    now_ms: i64,
    writes: &mut Vec<D1PreparedStatement>,
) -> Result<(), Fail> {
    if text(invoice, "status") != Some("paid") {
        return Ok(());
    }
    let id = new_id("pi");
    let secret = format!("{id}_secret_{}", base62_u128(random_u128()));
    match charges::invoice_intent(&id, &secret, invoice, stamp) {
        Some(intent) => {
            let email = text(invoice, "customer_email");
            charge_intent(store, scope, &intent, email, stamp, now_ms, false, writes)
        }
        None => Ok(()),
    }
}

/// `POST /v1/refunds`.
pub(crate) async fn create_refund(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let new = charges::parse_refund(&mut p)?;
    p.expand()?;
    p.finish()?;
    let charge_id = match (&new.charge, &new.payment_intent) {
        (Some(charge), _) => charge.clone(),
        (None, Some(intent)) => {
            let intent = existing(call, "payment_intent", intent, "payment_intent").await?;
            text(&intent, "latest_charge")
                .map(str::to_owned)
                .ok_or_else(|| {
                    StripeError::invalid(
                        "This PaymentIntent does not have a successful charge to refund.",
                    )
                    .with_param("payment_intent")
                })?
        }
        (None, None) => return Err(StripeError::missing_parameter("charge").into()),
    };
    let charge = existing(call, "charge", &charge_id, "charge").await?;
    let (refund, after) = charges::refund(&new_id("re"), &new, &charge, call.stamp)?;
    let writes = vec![
        call.store
            .insert(&call.scope, "refund", &refund, call.now_ms)?,
        call.store.replace(&call.scope, &after)?,
    ];
    let events = vec![
        call.event(Draft::new("refund.created", refund.clone())),
        call.event(Draft::update("charge.refunded", &charge, after)),
    ];
    Ok(Outcome::write(refund, writes, events))
}

/// `POST /_sandbox/charges/{id}/dispute`: the buyer disputes the charge (optional `reason`,
/// default `fraudulent`).
pub(crate) async fn open_dispute(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let reason = p
        .one_of(
            "reason",
            &[
                "fraudulent",
                "product_not_received",
                "duplicate",
                "subscription_canceled",
                "general",
            ],
        )?
        .unwrap_or("fraudulent");
    p.finish()?;
    let charge = existing(call, "charge", call.path("id"), "charge").await?;
    let (dispute, after) = charges::open_dispute(&new_id("dp"), &charge, reason, call.stamp)?;
    let writes = vec![
        call.store
            .insert(&call.scope, "dispute", &dispute, call.now_ms)?,
        call.store.replace(&call.scope, &after)?,
    ];
    let events = vec![call.event(Draft::new("charge.dispute.created", dispute.clone()))];
    Ok(Outcome::write(dispute, writes, events))
}

/// `POST /_sandbox/disputes/{id}/close` with `status` `won` or `lost`.
pub(crate) async fn close_dispute(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let status = p
        .one_of("status", &["won", "lost"])?
        .ok_or_else(|| StripeError::missing_parameter("status"))?;
    p.finish()?;
    let dispute = existing(call, "dispute", call.path("id"), "dispute").await?;
    let closed = charges::close_dispute(&dispute, status)?;
    let writes = vec![call.store.replace(&call.scope, &closed)?];
    let events = vec![call.event(Draft::update(
        "charge.dispute.closed",
        &dispute,
        closed.clone(),
    ))];
    Ok(Outcome::write(closed, writes, events))
}
