//! Subscription routes (retrieve, update, cancel, list), invoice lists, and the billing
//! steps the test controls trigger: a renewal that is paid or fails, and the end of a
//! subscription set to cancel at its period's end.

use crate::call::{Call, Outcome};
use crate::checkout::Change;
use crate::http::Fail;
use crate::model::billing::{self, NewInvoice};
use crate::model::error::StripeError;
use crate::model::events::Draft;
use crate::model::params::Params;
use crate::model::{self, Stamp, text};
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
    let new = billing::apply_update(&old, update, &prices, call.stamp.now)?;
    let mut change = Change::default();
    let new = updated(&call.store, &call.scope, &old, new, &mut change)?;
    let body = resources::expand(call, new, &requested, EXPANDABLE).await?;
    Ok(Outcome::write(body, change.writes, change.events))
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
    let customer_id = text(subscription, "customer").unwrap_or_default();
    let customer = existing(call, "customer", customer_id, "customer").await?;
    let (number, customer) = billing::take_invoice_number(&customer);
    let invoice_id = new_id("in");
    let renewed = billing::renew(subscription, &invoice_id, paid);
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
    change.writes.push(call.store.replace(scope, &customer)?);
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
