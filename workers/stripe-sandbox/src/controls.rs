//! Test controls (`/_sandbox/…`, only with `ENVIRONMENT=development`), authenticated and
//! scoped like the API: make happen now what Stripe does on its own or a buyer does in a
//! browser — pay or expire a checkout session (by card, or by a delayed method that settles
//! later, paid or failed), renew a subscription (paid or failed), decline a subscription's
//! next payment, open a dispute on a charge and close it won or lost, replay
//! an event, list an event's deliveries — and inject faults so the next calls under a path
//! fail (to test retries).

use crate::call::{self, Call, Outcome};
use crate::checkout::{self as sessions, Change};
use crate::http::Fail;
use crate::model::checkout;
use crate::model::error::StripeError;
use crate::model::params::Params;
use crate::model::{is_email, list, set};
use crate::resources::existing;
use crate::store::{DeliveryRow, NewFault};
use crate::subscriptions;
use serde_json::{Value, json};

/// The controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    CompleteSession,
    ExpireSession,
    SucceedPayment,
    FailPayment,
    Advance,
    FailRenewal,
    OpenDispute,
    CloseDispute,
    FailNextPayment,
    Replay,
    Deliveries,
    AddFault,
    ClearFaults,
}

pub(crate) async fn run(control: Control, call: &Call, p: Params) -> Result<Outcome, Fail> {
    match control {
        Control::CompleteSession => complete_session(call, p).await,
        Control::ExpireSession => expire_session(call, p).await,
        Control::SucceedPayment => settle_payment(call, p, true).await,
        Control::FailPayment => settle_payment(call, p, false).await,
        Control::Advance => renew(call, p, true).await,
        Control::FailRenewal => renew(call, p, false).await,
        Control::OpenDispute => crate::refunds::open_dispute(call, p).await,
        Control::CloseDispute => crate::refunds::close_dispute(call, p).await,
        Control::FailNextPayment => fail_next_payment(call, p).await,
        Control::Replay => replay(call, p).await,
        Control::Deliveries => deliveries(call, p).await,
        Control::AddFault => add_fault(call, p).await,
        Control::ClearFaults => clear_faults(call, p).await,
    }
}

fn not_open(session: &Value) -> Fail {
    StripeError::invalid(format!(
        "This Checkout Session is not open (status: {}).",
        crate::model::text(session, "status").unwrap_or_default()
    ))
    .into()
}

/// Pays the session as the hosted page's "Pay" would; `email` stands for what the buyer
/// types when the session has neither a customer nor an email, `payment_method_type`
/// (`card`, or the delayed `sepa_debit`) for the method they pick.
async fn complete_session(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let email = p.string("email")?.filter(|e| !e.is_empty());
    let method = p.one_of("payment_method_type", &["card", "sepa_debit"])?;
    p.finish()?;
    let method = sessions::Method::of(method).unwrap_or(sessions::Method::Card);
    if email.as_deref().is_some_and(|e| !is_email(e)) {
        return Err(
            StripeError::invalid_value("email", "email_invalid", "Invalid email address").into(),
        );
    }
    let mut change = Change::default();
    let session = sessions::current(call, call.path("id"), &mut change).await?;
    if !checkout::is_open(&session) {
        // An expiry found on the way is still recorded, with its event.
        call::publish_change(call, change).await?;
        return Err(not_open(&session));
    }
    let paid = sessions::complete(
        &call.store,
        &call.scope,
        &session,
        email.as_deref(),
        method,
        call.stamp,
        call.now_ms,
        &mut change,
    )
    .await?;
    Ok(Outcome::write(
        checkout::public(&paid, false),
        change.writes,
        change.events,
    ))
}

/// Settles the delayed payment of a session completed with `sepa_debit`, as the bank would.
async fn settle_payment(call: &Call, p: Params, succeeded: bool) -> Result<Outcome, Fail> {
    p.finish()?;
    let session = existing(call, "checkout.session", call.path("id"), "session").await?;
    let mut change = Change::default();
    let settled = sessions::settle_payment(
        &call.store,
        &call.scope,
        &session,
        succeeded,
        call.stamp,
        call.now_ms,
        &mut change,
    )
    .await?;
    Ok(Outcome::write(
        checkout::public(&settled, false),
        change.writes,
        change.events,
    ))
}

/// Expires the session as if its `expires_at` had passed.
async fn expire_session(call: &Call, p: Params) -> Result<Outcome, Fail> {
    p.finish()?;
    let session = existing(call, "checkout.session", call.path("id"), "session").await?;
    if !checkout::is_open(&session) {
        return Err(not_open(&session));
    }
    let mut change = Change::default();
    let expired = sessions::expire_now(&call.store, &call.scope, &session, &mut change)?;
    Ok(Outcome::write(
        checkout::public(&expired, false),
        change.writes,
        change.events,
    ))
}

async fn renew(call: &Call, p: Params, paid: bool) -> Result<Outcome, Fail> {
    p.finish()?;
    let subscription = existing(call, "subscription", call.path("id"), "id").await?;
    let paid = paid && !subscriptions::payment_declined(call, &subscription).await?;
    let (renewed, change) = subscriptions::renew(call, &subscription, paid).await?;
    Ok(Outcome::write(renewed, change.writes, change.events))
}

/// `{count?}`: the next `count` (default 1) payments attempted for the subscription — a
/// change's invoice, a renewal, an invoice paid again — are declined with `card_declined`.
async fn fail_next_payment(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let count = p.integer("count")?.unwrap_or(1);
    p.finish()?;
    if !(1..=100).contains(&count) {
        return Err(StripeError::invalid("count must be between 1 and 100")
            .with_param("count")
            .into());
    }
    let id = call.path("id");
    existing(call, "subscription", id, "id").await?;
    let path = format!("/_payment/{id}");
    let fault = NewFault {
        path_prefix: &path,
        method: Some("POST"),
        status: 402,
        count,
        code: Some("card_declined"),
        message: Some("Your card was declined."),
    };
    call.store.add_fault(&fault, call.now_ms).await?;
    Ok(Outcome::read(
        json!({"object": "sandbox.payment_failure", "subscription": id,
        "remaining": count, "code": "card_declined"}),
    ))
}

fn delivery_view(row: &DeliveryRow) -> Value {
    json!({
        "object": "sandbox.delivery",
        "event": row.event_id,
        "endpoint": row.endpoint_id,
        "url": row.url,
        "attempted_at": row.attempted_at.div_euclid(1000),
        "status": row.status,
        "error": row.error,
        "duration_ms": row.duration_ms,
    })
}

/// Delivers a stored event again to every endpoint that receives it now.
async fn replay(call: &Call, p: Params) -> Result<Outcome, Fail> {
    p.finish()?;
    let event = existing(call, "event", call.path("id"), "id").await?;
    let to = call::receivers_of(&call.env, &call.store, &call.scope, &event).await?;
    let (_, rows) = call::send(&event, &to).await?;
    let writes = rows
        .iter()
        .map(|r| call.store.record_delivery(r))
        .collect::<Result<Vec<_>, _>>()?;
    let data = rows.iter().map(delivery_view).collect();
    let url = format!("/_sandbox/events/{}/deliveries", call.path("id"));
    Ok(Outcome::write(list(&url, data, false), writes, Vec::new()))
}

async fn deliveries(call: &Call, p: Params) -> Result<Outcome, Fail> {
    p.finish()?;
    let id = call.path("id");
    existing(call, "event", id, "id").await?;
    let rows = call.store.deliveries(id).await?;
    let data = rows.iter().map(delivery_view).collect();
    Ok(Outcome::read(list(
        &format!("/_sandbox/events/{id}/deliveries"),
        data,
        false,
    )))
}

/// `{path, status, count?, method?, code?, message?}`: the next `count` (default 1) API calls
/// whose path starts with `path` answer `status` in Stripe's error shape.
async fn add_fault(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let path = p.required_string("path")?;
    if !path.starts_with('/') {
        return Err(StripeError::invalid("path must start with /")
            .with_param("path")
            .into());
    }
    let status = p
        .integer("status")?
        .ok_or_else(|| StripeError::missing_parameter("status"))?;
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (400..=599).contains(s))
        .ok_or_else(|| {
            StripeError::invalid("status must be between 400 and 599").with_param("status")
        })?;
    let count = p.integer("count")?.unwrap_or(1);
    if !(1..=1000).contains(&count) {
        return Err(StripeError::invalid("count must be between 1 and 1000")
            .with_param("count")
            .into());
    }
    let method = p.one_of("method", &["GET", "POST", "DELETE"])?;
    let code = p.string("code")?.filter(|c| !c.is_empty());
    let message = p.string("message")?.filter(|m| !m.is_empty());
    p.finish()?;
    let fault = NewFault {
        path_prefix: &path,
        method,
        status,
        count,
        code: code.as_deref(),
        message: message.as_deref(),
    };
    let id = call.store.add_fault(&fault, call.now_ms).await?;
    let mut body = json!({"id": format!("fault_{id}"), "object": "sandbox.fault", "path": path,
        "status": status, "remaining": count, "method": method, "code": code, "message": message});
    set(&mut body, "created", json!(call.stamp.now));
    Ok(Outcome::read(body))
}

async fn clear_faults(call: &Call, p: Params) -> Result<Outcome, Fail> {
    p.finish()?;
    let cleared = call.store.clear_faults().await?;
    Ok(Outcome::read(
        json!({"object": "sandbox.faults_cleared", "cleared": cleared}),
    ))
}
