//! Subscription routes (retrieve, update, cancel, list), invoice lists and payment, and the
//! billing steps the test controls trigger: a renewal that is paid or fails, and the end of a
//! subscription set to cancel at its period's end.
//!
//! A price change with `proration_behavior=always_invoice` is invoiced and charged at once.
//! Under `payment_behavior=pending_if_incomplete` it applies only once that invoice is paid:
//! until then the subscription bills as before and holds the change in `pending_update`,
//! which is discarded when its time runs out (at the latest by the next renewal).

use crate::call::{Call, Outcome};
use crate::checkout::Change;
use crate::http::Fail;
use crate::model::billing::{self, NewInvoice};
use crate::model::error::StripeError;
use crate::model::events::Draft;
use crate::model::params::Params;
use crate::model::{self, Stamp, set, text};
use crate::refunds::charge_invoice;
use crate::resources::{self, existing};
use crate::store::{Scope, Store};
use serde_json::Value;
use tollgate::ids::new_id;

const EXPANDABLE: &[(&str, &str)] = &[("customer", "customer"), ("latest_invoice", "invoice")];

fn updated(
    store: &Store,
    scope: &Scope,
    old: &Value,
    new: Value,
    change: &mut Change,
) -> Result<Value, Fail> {
    if new != *old {
        change.writes.push(store.replace(scope, &new)?);
        change.events.push((
            scope.clone(),
            Draft::update("customer.subscription.updated", old, new.clone()),
        ));
    }
    Ok(new)
}

/// Sets or clears `cancel_at_period_end` (the billing portal's buttons).
pub(crate) fn set_cancel_at_period_end(
    store: &Store,
    scope: &Scope,
    old: &Value,
    on: bool,
    now: i64,
    change: &mut Change,
) -> Result<Value, Fail> {
    if billing::is_canceled(old) {
        return Err(StripeError::invalid(
            "A canceled subscription can only update its cancellation_details and metadata.",
        )
        .into());
    }
    updated(
        store,
        scope,
        old,
        billing::cancel_at_period_end(old, on, now),
        change,
    )
}

pub(crate) async fn retrieve(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let requested = p.expand()?;
    p.finish()?;
    let subscription = existing(call, "subscription", call.path("id"), "id").await?;
    Ok(Outcome::read(
        resources::expand(call, subscription, &requested, EXPANDABLE).await?,
    ))
}

pub(crate) async fn update(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let update = billing::parse_update(&mut p)?;
    let requested = p.expand()?;
    p.finish()?;
    let old = existing(call, "subscription", call.path("id"), "id").await?;
    let mut prices = Vec::new();
    for (index, item) in update.items.iter().enumerate() {
        if let Some(price) = &item.price {
            prices.push(existing(call, "price", price, &format!("items[{index}][price]")).await?);
        }
    }
    let (proration, payment) = (update.proration, update.payment);
    let new = billing::apply_update(&old, update, &prices, call.stamp.now)?;
    let mut change = Change::default();
    let (new, invoice) =
        if proration == Some("always_invoice") && billing::bills_differently(&old, &new) {
            let (new, invoice) = invoice_change(call, &old, new, payment, &mut change).await?;
            (new, Some(invoice))
        } else {
            let new = updated(&call.store, &call.scope, &old, new, &mut change)?;
            (new, None)
        };
    // The new invoice is committed with the answer, so it is expanded from memory.
    let from_memory = |f: &String| invoice.is_some() && f == "latest_invoice";
    let (fresh, stored): (Vec<String>, Vec<String>) = requested.into_iter().partition(from_memory);
    let mut body = resources::expand(call, new, &stored, EXPANDABLE).await?;
    if let (Some(invoice), false) = (invoice, fresh.is_empty()) {
        set(&mut body, "latest_invoice", invoice);
    }
    Ok(Outcome::write(body, change.writes, change.events))
}

/// Whether the next payment for `subscription` is declined: a test armed
/// `/_sandbox/subscriptions/{id}/fail_next_payment` (spent by this attempt).
pub(crate) async fn payment_declined(call: &Call, subscription: &Value) -> Result<bool, Fail> {
    let id = text(subscription, "id").unwrap_or_default();
    Ok(call
        .store
        .take_fault("POST", &format!("/_payment/{id}"))
        .await?
        .is_some())
}

fn declined() -> Fail {
    StripeError::injected(402, Some("card_declined"), Some("Your card was declined.")).into()
}

/// Invoices a change of `old` into `new` for the rest of the period and attempts the payment
/// now. Paid (or nothing due): the change stands. Declined: `pending_if_incomplete` keeps the
/// old items with the change pending; `error_if_incomplete` refuses the update with a 402;
/// otherwise the change stands and the subscription is `past_due`.
async fn invoice_change(
    call: &Call,
    old: &Value,
    new: Value,
    payment: Option<&str>,
    change: &mut Change,
) -> Result<(Value, Value), Fail> {
    let now = call.stamp.now;
    let customer_id = text(old, "customer").unwrap_or_default();
    let customer = existing(call, "customer", customer_id, "customer").await?;
    let (number, customer) = billing::take_invoice_number(&customer);
    let invoice_id = new_id("in");
    let lines = billing::proration_lines(old, &new, &invoice_id, call.stamp, || new_id("il"));
    let paid = billing::lines_total(&lines) <= 0 || !payment_declined(call, old).await?;
    if !paid && payment == Some("error_if_incomplete") {
        return Err(declined());
    }
    let base = billing::invoice(
        &NewInvoice {
            id: &invoice_id,
            number: &number,
            customer: &customer,
            subscription: &new,
            line_ids: Vec::new(),
            billing_reason: "subscription_update",
            period: (now, now),
            paid,
        },
        call.stamp,
    );
    let invoice = billing::proration_invoice(base, lines, paid, now);
    let scope = &call.scope;
    change
        .writes
        .push(call.store.insert(scope, "invoice", &invoice, call.now_ms)?);
    charge_invoice(
        &call.store,
        scope,
        &invoice,
        call.stamp,
        call.now_ms,
        &mut change.writes,
    )?;
    change.writes.push(call.store.replace(scope, &customer)?);
    let (kind, after) = match (paid, payment) {
        (true, _) => ("invoice.paid", billing::invoiced(&new, &invoice_id)),
        (false, Some("pending_if_incomplete")) => (
            "invoice.payment_failed",
            billing::with_pending(old, &new, &invoice_id, now),
        ),
        (false, _) => (
            "invoice.payment_failed",
            billing::past_due(&new, &invoice_id),
        ),
    };
    change
        .events
        .push((scope.clone(), Draft::new(kind, invoice.clone())));
    Ok((updated(&call.store, scope, old, after, change)?, invoice))
}

/// `POST /v1/invoices/{id}/pay`: attempts an open invoice's payment again. Paid, it applies
/// the pending update it was issued for, if that is still in time.
pub(crate) async fn pay_invoice(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    p.expand()?;
    p.finish()?;
    let invoice = existing(call, "invoice", call.path("id"), "invoice").await?;
    if text(&invoice, "status") != Some("open") {
        return Err(StripeError::invalid("Invoice is already paid.").into());
    }
    let sub_id = text(&invoice, "subscription")
        .unwrap_or_default()
        .to_owned();
    let subscription = existing(call, "subscription", &sub_id, "subscription").await?;
    if payment_declined(call, &subscription).await? {
        return Err(declined());
    }
    let paid = billing::paid_now(&invoice, call.stamp.now);
    let scope = &call.scope;
    let mut change = Change::default();
    change.writes.push(call.store.replace(scope, &paid)?);
    charge_invoice(
        &call.store,
        scope,
        &paid,
        call.stamp,
        call.now_ms,
        &mut change.writes,
    )?;
    change
        .events
        .push((scope.clone(), Draft::new("invoice.paid", paid.clone())));
    let applies = text(&subscription, "latest_invoice") == text(&invoice, "id");
    if let Some(applied) = billing::apply_pending(&subscription, call.stamp.now).filter(|_| applies)
    {
        updated(
            &call.store,
            scope,
            &subscription,
            applied.clone(),
            &mut change,
        )?;
        change.events.push((
            scope.clone(),
            Draft::new("customer.subscription.pending_update_applied", applied),
        ));
    }
    Ok(Outcome::write(paid, change.writes, change.events))
}

pub(crate) async fn cancel(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    // Accepted as on Stripe; the sandbox neither prorates nor issues a final invoice.
    p.boolean("invoice_now")?;
    p.boolean("prorate")?;
    p.expand()?;
    p.finish()?;
    let old = existing(call, "subscription", call.path("id"), "id").await?;
    if billing::is_canceled(&old) {
        return Err(StripeError::invalid(format!(
            "This subscription has already been canceled: {}",
            call.path("id")
        ))
        .into());
    }
    let ended = billing::end(&old, call.stamp.now);
    let write = call.store.replace(&call.scope, &ended)?;
    let event = call.event(Draft::new("customer.subscription.deleted", ended.clone()));
    Ok(Outcome::write(ended, vec![write], vec![event]))
}

pub(crate) async fn list(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let filters = billing::filters(&mut p)?;
    p.expand()?;
    let (data, has_more) = resources::page(call, &mut p, "subscription", &filters).await?;
    p.finish()?;
    Ok(Outcome::read(model::list(
        "/v1/subscriptions",
        data,
        has_more,
    )))
}

pub(crate) async fn list_invoices(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let filters = billing::invoice_filters(&mut p)?;
    p.expand()?;
    let (data, has_more) = resources::page(call, &mut p, "invoice", &filters).await?;
    p.finish()?;
    Ok(Outcome::read(model::list("/v1/invoices", data, has_more)))
}

/// Moves a subscription to its next period as if its renewal date had come: a paid (or,
/// with `paid` false, failed) invoice and the subscription updated — or, when it was set to
/// cancel at the period's end, its end.
pub(crate) async fn renew(
    call: &Call,
    subscription: &Value,
    paid: bool,
) -> Result<(Value, Change), Fail> {
    let mut change = Change::default();
    let scope = &call.scope;
    if billing::is_canceled(subscription) {
        return Err(StripeError::invalid(format!(
            "The subscription {} is canceled; it has no next period.",
            text(subscription, "id").unwrap_or_default()
        ))
        .into());
    }
    let (_, period_end) = billing::period(subscription);
    if subscription["cancel_at_period_end"].as_bool() == Some(true) {
        let ended = billing::end(subscription, period_end);
        change.writes.push(call.store.replace(scope, &ended)?);
        change.events.push((
            scope.clone(),
            Draft::new("customer.subscription.deleted", ended.clone()),
        ));
        return Ok((ended, change));
    }
    // A pending update still waiting at the renewal has run out of time: it is discarded and
    // the period renews on the old items.
    let expired = billing::expire_pending(subscription, period_end);
    let current = expired.as_ref().unwrap_or(subscription);
    let customer_id = text(subscription, "customer").unwrap_or_default();
    let customer = existing(call, "customer", customer_id, "customer").await?;
    let (number, customer) = billing::take_invoice_number(&customer);
    let invoice_id = new_id("in");
    let renewed = billing::renew(current, &invoice_id, paid);
    // The invoice is dated at the renewal, which may be ahead of the clock.
    let stamp = Stamp {
        now: period_end.max(call.stamp.now),
        ..call.stamp
    };
    let invoice = billing::invoice(
        &NewInvoice {
            id: &invoice_id,
            number: &number,
            customer: &customer,
            subscription: &renewed,
            line_ids: billing::items(&renewed)
                .iter()
                .map(|_| new_id("il"))
                .collect(),
            billing_reason: "subscription_cycle",
            period: billing::period(&renewed),
            paid,
        },
        stamp,
    );
    change
        .writes
        .push(call.store.insert(scope, "invoice", &invoice, call.now_ms)?);
    charge_invoice(
        &call.store,
        scope,
        &invoice,
        stamp,
        call.now_ms,
        &mut change.writes,
    )?;
    change.writes.push(call.store.replace(scope, &customer)?);
    if let Some(cleared) = expired {
        change.events.push((
            scope.clone(),
            Draft::new("customer.subscription.pending_update_expired", cleared),
        ));
    }
    if paid {
        let renewed = updated(&call.store, scope, subscription, renewed, &mut change)?;
        change
            .events
            .push((scope.clone(), Draft::new("invoice.paid", invoice)));
        Ok((renewed, change))
    } else {
        change
            .events
            .push((scope.clone(), Draft::new("invoice.payment_failed", invoice)));
        let renewed = updated(&call.store, scope, subscription, renewed, &mut change)?;
        Ok((renewed, change))
    }
}
