//! Subscriptions and their invoices: a subscription started by a checkout session, its
//! periods (kept on each item, as the pinned API version does, and mirrored at the top level),
//! renewals that succeed or fail, cancellation now or at the period's end, price changes, and
//! the invoice each billing produces — including the proration invoice of a price change made
//! with `proration_behavior=always_invoice`, and the pending update that waits for it to be
//! paid under `payment_behavior=pending_if_incomplete`.
//!
//! States: `trialing` or `active` at the start; a renewal makes it `active`, a failed renewal
//! `past_due`; it ends `canceled`, either at once or when a period ends with
//! `cancel_at_period_end` set.

use super::error::StripeError;
use super::params::{MetadataPatch, Params};
use super::period::next_boundary;
use super::{Filter, Stamp, int, object, prices, set, text};
use serde_json::{Map, Value, json};

const DAY: i64 = 86_400;

/// One item of a new subscription: its id, price and quantity.
#[derive(Debug)]
pub(crate) struct NewItem {
    pub(crate) id: String,
    pub(crate) price: Value,
    pub(crate) quantity: i64,
}

/// A subscription being started.
#[derive(Debug)]
pub(crate) struct NewSubscription<'a> {
    pub(crate) id: &'a str,
    pub(crate) customer: &'a str,
    pub(crate) items: Vec<NewItem>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) trial_days: Option<i64>,
    pub(crate) latest_invoice: &'a str,
}

fn items_list(subscription: &str, items: Vec<Value>) -> Value {
    let count = items.len();
    json!({
        "object": "list",
        "data": Value::Array(items),
        "has_more": false,
        "total_count": count,
        "url": format!("/v1/subscription_items?subscription={subscription}"),
    })
}

fn item(subscription: &str, new: &NewItem, period: (i64, i64), created: i64) -> Value {
    json!({
        "id": new.id,
        "object": "subscription_item",
        "billing_thresholds": null,
        "created": created,
        "current_period_end": period.1,
        "current_period_start": period.0,
        "current_trial": null,
        "discounts": [],
        "metadata": {},
        "plan": prices::plan(&new.price),
        "price": new.price,
        "quantity": new.quantity,
        "subscription": subscription,
        "tax_rates": [],
    })
}

/// The subscription's items.
pub(crate) fn items(subscription: &Value) -> Vec<Value> {
    subscription
        .get("items")
        .and_then(|l| l.get("data"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The interval and count all items bill at (they share one; checkout checks it).
fn recurrence(subscription: &Value) -> (super::period::Interval, i64) {
    items(subscription)
        .first()
        .and_then(|i| i.get("price"))
        .and_then(prices::recurrence)
        .unwrap_or((super::period::Interval::Month, 1))
}

/// A new subscription starting at `stamp.now`: trialing until the trial ends when it has
/// trial days, otherwise active for its first period.
pub(crate) fn start(new: NewSubscription<'_>, stamp: Stamp) -> Value {
    let now = stamp.now;
    let trial_end = new.trial_days.map(|days| now + days * DAY);
    let (interval, count) = new
        .items
        .first()
        .and_then(|i| prices::recurrence(&i.price))
        .unwrap_or((super::period::Interval::Month, 1));
    let (anchor, end) = match trial_end {
        Some(end) => (end, end),
        None => (now, next_boundary(now, interval, count, now)),
    };
    let currency = new
        .items
        .first()
        .map_or(Value::Null, |i| i.price["currency"].clone());
    let items: Vec<Value> = new
        .items
        .into_iter()
        .map(|i| item(new.id, &i, (now, end), now))
        .collect();
    json!({
        "id": new.id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": null,
        "billing_mode": {"flexible": null, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": null,
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "cancellation_details": {"comment": null, "feedback": null, "reason": null},
        "collection_method": "charge_automatically",
        "created": now,
        "currency": currency,
        "current_period_end": end,
        "current_period_start": now,
        "customer": new.customer,
        "customer_account": null,
        "days_until_due": null,
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "ended_at": null,
        "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
        "items": items_list(new.id, items),
        "latest_invoice": new.latest_invoice,
        "livemode": stamp.livemode,
        "managed_payments": null,
        "metadata": new.metadata,
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": {"payment_method_options": null, "payment_method_types": null,
            "save_default_payment_method": "off"},
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": now,
        "status": if trial_end.is_some() { "trialing" } else { "active" },
        "test_clock": null,
        "transfer_data": null,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": trial_end.map(|_| now),
    })
}

/// A new subscription whose first payment is on its way (a delayed method): `incomplete`
/// until the invoice is paid.
pub(crate) fn incomplete(subscription: &Value) -> Value {
    let mut out = subscription.clone();
    set(&mut out, "status", json!("incomplete"));
    out
}

/// An incomplete subscription whose first invoice got paid.
pub(crate) fn activate(subscription: &Value) -> Value {
    let mut out = subscription.clone();
    set(&mut out, "status", json!("active"));
    out
}

/// An open invoice paid at `now`.
pub(crate) fn pay_invoice(invoice: &Value, now: i64) -> Value {
    let mut out = invoice.clone();
    let due = int(invoice, "amount_due").unwrap_or(0);
    set(&mut out, "status", json!("paid"));
    set(&mut out, "amount_paid", json!(due));
    set(&mut out, "amount_remaining", json!(0));
    set(&mut out, "auto_advance", json!(false));
    set(&mut out, "next_payment_attempt", Value::Null);
    if let Some(transitions) = out
        .get_mut("status_transitions")
        .and_then(Value::as_object_mut)
    {
        transitions.insert("paid_at".into(), json!(now));
    }
    out
}

fn set_period(subscription: &mut Value, start: i64, end: i64) {
    set(subscription, "current_period_start", json!(start));
    set(subscription, "current_period_end", json!(end));
    let id = text(subscription, "id").unwrap_or_default().to_owned();
    let moved: Vec<Value> = items(subscription)
        .into_iter()
        .map(|mut i| {
            set(&mut i, "current_period_start", json!(start));
            set(&mut i, "current_period_end", json!(end));
            i
        })
        .collect();
    set(subscription, "items", items_list(&id, moved));
}

/// The current period (start, end) of a subscription.
pub(crate) fn period(subscription: &Value) -> (i64, i64) {
    (
        int(subscription, "current_period_start").unwrap_or(0),
        int(subscription, "current_period_end").unwrap_or(0),
    )
}

/// Whether the subscription has ended.
pub(crate) fn is_canceled(subscription: &Value) -> bool {
    text(subscription, "status") == Some("canceled")
}

/// The next period after the current one, counted from the billing anchor.
pub(crate) fn next_period(subscription: &Value) -> (i64, i64) {
    let (_, end) = period(subscription);
    let anchor = int(subscription, "billing_cycle_anchor").unwrap_or(end);
    let (interval, count) = recurrence(subscription);
    (end, next_boundary(anchor, interval, count, end))
}

/// The subscription moved into its next period, billed by `invoice`: `active` when paid,
/// `past_due` when the payment failed.
pub(crate) fn renew(subscription: &Value, invoice: &str, paid: bool) -> Value {
    let (start, end) = next_period(subscription);
    let mut out = subscription.clone();
    set_period(&mut out, start, end);
    set(
        &mut out,
        "status",
        json!(if paid { "active" } else { "past_due" }),
    );
    set(&mut out, "latest_invoice", json!(invoice));
    out
}

/// The subscription ended at `at` (now, or the end of a period it was set to end at).
pub(crate) fn end(subscription: &Value, at: i64) -> Value {
    let mut out = subscription.clone();
    set(&mut out, "status", json!("canceled"));
    set(&mut out, "ended_at", json!(at));
    if subscription.get("canceled_at").is_none_or(Value::is_null) {
        set(&mut out, "canceled_at", json!(at));
    }
    let mut details = object(subscription, "cancellation_details");
    details.insert("reason".into(), json!("cancellation_requested"));
    set(&mut out, "cancellation_details", Value::Object(details));
    out
}

/// A requested change of one item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ItemChange {
    pub(crate) id: String,
    pub(crate) price: Option<String>,
    quantity: Option<i64>,
}

/// What `POST /v1/subscriptions/{id}` asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SubscriptionUpdate {
    cancel_at_period_end: Option<bool>,
    metadata: Option<MetadataPatch>,
    description: Option<Option<String>>,
    pub(crate) items: Vec<ItemChange>,
    /// `proration_behavior`: `always_invoice` bills a price change at once.
    pub(crate) proration: Option<&'static str>,
    /// `payment_behavior`: what a failed payment of that invoice does to the update.
    pub(crate) payment: Option<&'static str>,
}

/// Reads `POST /v1/subscriptions/{id}`. `proration_behavior=always_invoice` invoices a price
/// change's proration at once; `create_prorations` and `none` bill nothing now (the sandbox
/// keeps no pending invoice items, so a later invoice never carries a proration).
///
/// # Errors
/// Unknown or malformed parameters, item changes without an item id, and parameters that
/// pending updates do not support with `payment_behavior=pending_if_incomplete`.
pub(crate) fn parse_update(p: &mut Params) -> Result<SubscriptionUpdate, StripeError> {
    let proration = p.one_of(
        "proration_behavior",
        &["always_invoice", "create_prorations", "none"],
    )?;
    let payment = p.one_of(
        "payment_behavior",
        &[
            "allow_incomplete",
            "default_incomplete",
            "error_if_incomplete",
            "pending_if_incomplete",
        ],
    )?;
    let items = p
        .list("items", |item, _| {
            let id_name = item.name("id");
            let id = item
                .string("id")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    StripeError::invalid(format!(
                        "The Stripe sandbox changes existing items only: {id_name} is required."
                    ))
                    .with_param(&id_name)
                })?;
            let quantity_name = item.name("quantity");
            let quantity = item.integer("quantity")?;
            if quantity.is_some_and(|q| q < 1) {
                return Err(StripeError::invalid_value(
                    &quantity_name,
                    "parameter_invalid_integer",
                    format!("Invalid {quantity_name}: must be at least 1"),
                ));
            }
            Ok(ItemChange {
                id,
                price: item.string("price")?.filter(|s| !s.is_empty()),
                quantity,
            })
        })?
        .unwrap_or_default();
    let update = SubscriptionUpdate {
        cancel_at_period_end: p.boolean("cancel_at_period_end")?,
        metadata: p.metadata("metadata")?,
        description: p.nullable_string("description")?,
        items,
        proration,
        payment,
    };
    // Pending updates hold only what bills (items, proration); Stripe refuses the rest.
    if payment == Some("pending_if_incomplete") {
        let unsupported = [
            (
                "cancel_at_period_end",
                update.cancel_at_period_end.is_some(),
            ),
            ("metadata", update.metadata.is_some()),
            ("description", update.description.is_some()),
        ];
        if let Some((param, _)) = unsupported.iter().find(|(_, given)| *given) {
            return Err(StripeError::invalid(format!(
                "The parameter `{param}` cannot be passed with `payment_behavior=pending_if_incomplete`: pending updates support only items, proration and trial parameters."
            ))
            .with_param(param));
        }
    }
    Ok(update)
}

/// Sets or clears cancellation at the end of the current period (at `now`).
pub(crate) fn cancel_at_period_end(subscription: &Value, on: bool, now: i64) -> Value {
    let mut out = subscription.clone();
    let (_, end) = period(subscription);
    set(&mut out, "cancel_at_period_end", json!(on));
    set(
        &mut out,
        "cancel_at",
        if on { json!(end) } else { Value::Null },
    );
    set(
        &mut out,
        "canceled_at",
        if on { json!(now) } else { Value::Null },
    );
    let mut details = object(subscription, "cancellation_details");
    details.insert(
        "reason".into(),
        if on {
            json!("cancellation_requested")
        } else {
            Value::Null
        },
    );
    set(&mut out, "cancellation_details", Value::Object(details));
    out
}

/// Applies `update` at `now`; `new_prices` are the resolved prices of the item changes that
/// name one, in the same order.
///
/// # Errors
/// Changes other than metadata on a canceled subscription, unknown item ids, and prices that
/// are inactive, one-time or in another currency.
pub(crate) fn apply_update(
    subscription: &Value,
    update: SubscriptionUpdate,
    new_prices: &[Value],
    now: i64,
) -> Result<Value, StripeError> {
    if is_canceled(subscription)
        && (update.cancel_at_period_end.is_some()
            || !update.items.is_empty()
            || update.description.is_some())
    {
        return Err(StripeError::invalid(
            "A canceled subscription can only update its cancellation_details and metadata.",
        ));
    }
    let mut out = subscription.clone();
    if let Some(on) = update.cancel_at_period_end {
        out = cancel_at_period_end(&out, on, now);
    }
    if let Some(description) = update.description {
        set(&mut out, "description", json!(description));
    }
    if let Some(patch) = update.metadata {
        let merged = patch.apply(&object(subscription, "metadata"));
        set(&mut out, "metadata", Value::Object(merged));
    }
    let mut current = items(&out);
    let mut prices_left = new_prices.iter();
    for (index, change) in update.items.into_iter().enumerate() {
        let Some(slot) = current
            .iter_mut()
            .find(|i| text(i, "id") == Some(change.id.as_str()))
        else {
            return Err(StripeError::no_such(
                "subscription item",
                &change.id,
                &format!("items[{index}][id]"),
            ));
        };
        if change.price.is_some() {
            let price = prices_left.next().cloned().unwrap_or(Value::Null);
            let param = format!("items[{index}][price]");
            if price.get("active") != Some(&Value::Bool(true)) {
                return Err(StripeError::invalid(
                    "The price specified is inactive. This field only accepts active prices.",
                )
                .with_param(&param));
            }
            if !prices::is_recurring(&price) {
                return Err(StripeError::invalid(
                    "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
                )
                .with_param(&param));
            }
            if price.get("currency") != out.get("currency") {
                return Err(StripeError::invalid(
                    "The price's currency must match the subscription's currency.",
                )
                .with_param(&param));
            }
            set(slot, "plan", prices::plan(&price));
            set(slot, "price", price);
        }
        if let Some(quantity) = change.quantity {
            set(slot, "quantity", json!(quantity));
        }
    }
    let id = text(&out, "id").unwrap_or_default().to_owned();
    set(&mut out, "items", items_list(&id, current));
    Ok(out)
}

/// The filters of `GET /v1/subscriptions`: `customer`, `price`, and `status` (by default
/// every status but `canceled` and `incomplete_expired`, as on Stripe; `all` for every one).
///
/// # Errors
/// Unknown or malformed parameters.
pub(crate) fn filters(p: &mut Params) -> Result<Vec<Filter>, StripeError> {
    let mut out = Vec::new();
    if let Some(customer) = p.string("customer")?.filter(|s| !s.is_empty()) {
        out.push(Filter::Eq("$.customer", json!(customer)));
    }
    if let Some(price) = p.string("price")?.filter(|s| !s.is_empty()) {
        out.push(Filter::Eq("$.items.data[0].price.id", json!(price)));
    }
    let status = p.one_of(
        "status",
        &[
            "active",
            "all",
            "canceled",
            "ended",
            "incomplete",
            "incomplete_expired",
            "past_due",
            "paused",
            "trialing",
            "unpaid",
        ],
    )?;
    match status {
        None => out.push(Filter::NotIn(
            "$.status",
            vec!["canceled", "incomplete_expired"],
        )),
        Some("all") => {}
        Some("ended") => out.push(Filter::Eq("$.status", json!("canceled"))),
        Some(status) => out.push(Filter::Eq("$.status", json!(status))),
    }
    Ok(out)
}

/// The next invoice number of `customer` (`PREFIX-0001`), and the customer with its sequence
/// moved on.
pub(crate) fn take_invoice_number(customer: &Value) -> (String, Value) {
    let sequence = int(customer, "next_invoice_sequence").unwrap_or(1);
    let prefix = text(customer, "invoice_prefix").unwrap_or("INV");
    let mut out = customer.clone();
    set(&mut out, "next_invoice_sequence", json!(sequence + 1));
    (format!("{prefix}-{sequence:04}"), out)
}

/// An invoice being issued for a subscription.
#[derive(Debug)]
pub(crate) struct NewInvoice<'a> {
    pub(crate) id: &'a str,
    pub(crate) number: &'a str,
    pub(crate) customer: &'a Value,
    pub(crate) subscription: &'a Value,
    /// One line id per subscription item, in item order.
    pub(crate) line_ids: Vec<String>,
    /// `subscription_create` or `subscription_cycle`.
    pub(crate) billing_reason: &'a str,
    /// The period the lines bill for.
    pub(crate) period: (i64, i64),
    pub(crate) paid: bool,
}

/// Whether the subscription is in its free trial (its first invoice is for nothing).
pub(crate) fn in_trial(subscription: &Value, at: i64) -> bool {
    int(subscription, "trial_end").is_some_and(|end| at < end)
}

fn price_name(price: &Value) -> &str {
    text(price, "nickname").unwrap_or_else(|| text(price, "id").unwrap_or_default())
}

/// One invoice line billing a subscription item.
struct Line<'a> {
    id: &'a str,
    invoice: &'a str,
    subscription: &'a str,
    item: &'a Value,
    amount: i64,
    description: String,
    period: (i64, i64),
    proration: bool,
}

fn line(l: &Line<'_>, stamp: Stamp) -> Value {
    let price = &l.item["price"];
    let quantity = int(l.item, "quantity").unwrap_or(1);
    json!({
        "id": l.id,
        "object": "line_item",
        "amount": l.amount,
        "currency": price["currency"],
        "description": l.description,
        "discount_amounts": [],
        "discountable": !l.proration,
        "discounts": [],
        "invoice": l.invoice,
        "livemode": stamp.livemode,
        "metadata": {},
        "parent": {
            "invoice_item_details": null,
            "subscription_item_details": {"invoice_item": null, "proration": l.proration,
                "proration_details": {"credited_items": null}, "subscription": l.subscription,
                "subscription_item": l.item["id"]},
            "type": "subscription_item_details",
        },
        "period": {"end": l.period.1, "start": l.period.0},
        "pretax_credit_amounts": [],
        "pricing": {"price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details", "unit_amount_decimal": price["unit_amount_decimal"]},
        "quantity": quantity,
        "quantity_decimal": quantity.to_string(),
        "subtotal": l.amount,
        "taxes": [],
    })
}

/// A finalized invoice for the subscription's items: `paid`, or `open` after a failed payment.
pub(crate) fn invoice(new: &NewInvoice<'_>, stamp: Stamp) -> Value {
    let sub = new.subscription;
    let sub_id = text(sub, "id").unwrap_or_default();
    let free = in_trial(sub, new.period.0);
    let lines: Vec<Value> = items(sub)
        .iter()
        .zip(new.line_ids.iter())
        .map(|(item, line_id)| {
            let price = &item["price"];
            let quantity = int(item, "quantity").unwrap_or(1);
            let amount = if free {
                0
            } else {
                int(price, "unit_amount").unwrap_or(0) * quantity
            };
            let description = format!("{quantity} × {}", price_name(price));
            line(
                &Line {
                    id: line_id,
                    invoice: new.id,
                    subscription: sub_id,
                    item,
                    amount,
                    description,
                    period: new.period,
                    proration: false,
                },
                stamp,
            )
        })
        .collect();
    let total: i64 = lines.iter().filter_map(|l| int(l, "amount")).sum();
    let paid_at = new.paid.then_some(stamp.now);
    json!({
        "id": new.id,
        "object": "invoice",
        "account_country": "US",
        "account_name": null,
        "account_tax_ids": null,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": if new.paid { total } else { 0 },
        "amount_remaining": if new.paid { 0 } else { total },
        "amount_shipping": 0,
        "application": null,
        "attempt_count": 1,
        "attempted": true,
        "auto_advance": !new.paid,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null},
        "automatically_finalizes_at": null,
        "billing_reason": new.billing_reason,
        "collection_method": "charge_automatically",
        "created": stamp.now,
        "currency": sub["currency"],
        "custom_fields": null,
        "customer": new.customer["id"],
        "customer_account": null,
        "customer_address": null,
        "customer_email": new.customer["email"],
        "customer_name": new.customer["name"],
        "customer_phone": null,
        "customer_shipping": null,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "due_date": null,
        "effective_at": stamp.now,
        "ending_balance": 0,
        "footer": null,
        "from_invoice": null,
        "hosted_invoice_url": null,
        "invoice_pdf": null,
        "issuer": {"type": "self"},
        "last_finalization_error": null,
        "latest_revision": null,
        "lines": super::list(&format!("/v1/invoices/{}/lines", new.id), lines, false),
        "livemode": stamp.livemode,
        "metadata": {},
        "next_payment_attempt": if new.paid { Value::Null } else { json!(stamp.now + 3 * DAY) },
        "number": new.number,
        "on_behalf_of": null,
        "parent": {
            "quote_details": null,
            "subscription_details": {"metadata": sub["metadata"], "subscription": sub_id},
            "type": "subscription_details",
        },
        "payment_settings": {"default_mandate": null, "payment_method_options": null, "payment_method_types": null},
        "period_end": new.period.1,
        "period_start": new.period.0,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": 0,
        "statement_descriptor": null,
        "status": if new.paid { "paid" } else { "open" },
        "status_transitions": {"finalized_at": stamp.now, "marked_uncollectible_at": null,
            "paid_at": paid_at, "voided_at": null},
        "subscription": sub_id,
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": null,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": stamp.now,
    })
}

/// How long a pending update waits for its invoice to be paid before it is discarded.
pub(crate) const PENDING_UPDATE_LIFETIME: i64 = 23 * 3600;

/// Whether `after` bills differently from `before`: an item's price or quantity changed.
pub(crate) fn bills_differently(before: &Value, after: &Value) -> bool {
    let terms = |sub: &Value| -> Vec<(Value, Value)> {
        items(sub)
            .iter()
            .map(|i| (i["price"]["id"].clone(), i["quantity"].clone()))
            .collect()
    };
    terms(before) != terms(after)
}

/// `amount` for the part of `period` left at `at`, rounded to the nearest minor unit.
fn prorated(amount: i64, period: (i64, i64), at: i64) -> i64 {
    let length = (period.1 - period.0).max(1);
    let left = (period.1 - at).clamp(0, length);
    let share =
        (i128::from(amount) * i128::from(left) + i128::from(length) / 2) / i128::from(length);
    i64::try_from(share).unwrap_or(0)
}

/// The proration lines of a change made at `at`: for every item that now bills another price
/// or quantity, a credit for the unused time on the old terms and a charge for the remaining
/// time on the new ones, both for the rest of the current period.
pub(crate) fn proration_lines(
    before: &Value,
    after: &Value,
    invoice: &str,
    stamp: Stamp,
    mut next_id: impl FnMut() -> String,
) -> Vec<Value> {
    let period = period(before);
    let sub_id = text(before, "id").unwrap_or_default();
    let old_items = items(before);
    let mut lines = Vec::new();
    for new_item in items(after) {
        let Some(old_item) = old_items.iter().find(|i| i["id"] == new_item["id"]) else {
            continue;
        };
        if old_item["price"]["id"] == new_item["price"]["id"]
            && old_item["quantity"] == new_item["quantity"]
        {
            continue;
        }
        for (item, sign, what) in [(old_item, -1, "Unused"), (&new_item, 1, "Remaining")] {
            let quantity = int(item, "quantity").unwrap_or(1);
            let full = int(&item["price"], "unit_amount").unwrap_or(0) * quantity;
            let id = next_id();
            lines.push(line(
                &Line {
                    id: &id,
                    invoice,
                    subscription: sub_id,
                    item,
                    amount: sign * prorated(full, period, stamp.now),
                    description: format!(
                        "{what} time on {quantity} × {}",
                        price_name(&item["price"])
                    ),
                    period: (stamp.now, period.1),
                    proration: true,
                },
                stamp,
            ));
        }
    }
    lines
}

/// The invoice of a mid-period change (`billing_reason=subscription_update`): `base` (built by
/// [`invoice`] with no lines) carrying `lines`. A net credit is owed nothing now: it stays
/// with the customer (the sandbox keeps no customer balance) and the invoice is paid at zero.
pub(crate) fn proration_invoice(base: Value, lines: Vec<Value>, paid: bool, at: i64) -> Value {
    let mut out = base;
    let total: i64 = lines.iter().filter_map(|l| int(l, "amount")).sum();
    let due = total.max(0);
    let url = format!(
        "/v1/invoices/{}/lines",
        text(&out, "id").unwrap_or_default()
    );
    set(&mut out, "lines", super::list(&url, lines, false));
    for field in [
        "subtotal",
        "subtotal_excluding_tax",
        "total",
        "total_excluding_tax",
    ] {
        set(&mut out, field, json!(total));
    }
    set(&mut out, "amount_due", json!(due));
    set(&mut out, "amount_paid", json!(if paid { due } else { 0 }));
    set(
        &mut out,
        "amount_remaining",
        json!(if paid { 0 } else { due }),
    );
    set(&mut out, "ending_balance", json!(total.min(0)));
    set(&mut out, "period_start", json!(at));
    set(&mut out, "period_end", json!(at));
    out
}

/// An open invoice paid at `at` by another attempt (`POST /v1/invoices/{id}/pay`).
pub(crate) fn paid_now(invoice: &Value, at: i64) -> Value {
    let mut out = pay_invoice(invoice, at);
    set(
        &mut out,
        "attempt_count",
        json!(int(invoice, "attempt_count").unwrap_or(0) + 1),
    );
    out
}

/// The net amount `lines` bill.
pub(crate) fn lines_total(lines: &[Value]) -> i64 {
    lines.iter().filter_map(|l| int(l, "amount")).sum()
}

/// `changed` billed by the paid `invoice`: it stands, and any older pending update is gone.
pub(crate) fn invoiced(changed: &Value, invoice: &str) -> Value {
    let mut out = changed.clone();
    set(&mut out, "latest_invoice", json!(invoice));
    set(&mut out, "pending_update", Value::Null);
    out
}

/// `changed` billed by `invoice`, whose payment failed, without pending updates
/// (`allow_incomplete`, `default_incomplete`): the change stands and the subscription is
/// `past_due` until the invoice is paid.
pub(crate) fn past_due(changed: &Value, invoice: &str) -> Value {
    let mut out = invoiced(changed, invoice);
    set(&mut out, "status", json!("past_due"));
    out
}

/// `before` still billing as it did, with `changed`'s items waiting in `pending_update` until
/// the open `invoice` is paid, for [`PENDING_UPDATE_LIFETIME`] from `now`.
pub(crate) fn with_pending(before: &Value, changed: &Value, invoice: &str, now: i64) -> Value {
    let mut out = before.clone();
    set(
        &mut out,
        "pending_update",
        json!({
            "billing_cycle_anchor": null,
            "expires_at": now + PENDING_UPDATE_LIFETIME,
            "subscription_items": items(changed),
            "trial_end": null,
            "trial_from_plan": null,
        }),
    );
    set(&mut out, "latest_invoice", json!(invoice));
    out
}

/// The pending update's items, when the subscription has one still in time at `at`.
pub(crate) fn pending_items(subscription: &Value, at: i64) -> Option<Vec<Value>> {
    let pending = subscription
        .get("pending_update")
        .filter(|p| !p.is_null())?;
    if int(pending, "expires_at").is_some_and(|end| end <= at) {
        return None;
    }
    pending["subscription_items"].as_array().cloned()
}

/// The subscription with its pending update applied (its invoice was paid at `at`).
pub(crate) fn apply_pending(subscription: &Value, at: i64) -> Option<Value> {
    let new_items = pending_items(subscription, at)?;
    let mut out = subscription.clone();
    let id = text(subscription, "id").unwrap_or_default().to_owned();
    set(&mut out, "items", items_list(&id, new_items));
    set(&mut out, "pending_update", Value::Null);
    Some(out)
}

/// The subscription without a pending update whose time ran out by `at`, when it had one.
pub(crate) fn expire_pending(subscription: &Value, at: i64) -> Option<Value> {
    let pending = subscription
        .get("pending_update")
        .filter(|p| !p.is_null())?;
    if int(pending, "expires_at").is_some_and(|end| end > at) {
        return None;
    }
    let mut out = subscription.clone();
    set(&mut out, "pending_update", Value::Null);
    Some(out)
}

/// The filters of `GET /v1/invoices` (`customer`, `subscription`, `status`).
///
/// # Errors
/// Unknown or malformed parameters.
pub(crate) fn invoice_filters(p: &mut Params) -> Result<Vec<Filter>, StripeError> {
    let mut out = super::id_filters(
        p,
        &[
            ("customer", "$.customer"),
            ("subscription", "$.subscription"),
        ],
    )?;
    if let Some(status) = p.one_of(
        "status",
        &["draft", "open", "paid", "uncollectible", "void"],
    )? {
        out.push(Filter::Eq("$.status", json!(status)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate::usage::days_from_civil;

    fn at(year: i64, month: i64, day: i64) -> i64 {
        days_from_civil(year, month, day) * DAY
    }

    fn price(id: &str, amount: i64, interval: &str, currency: &str) -> Value {
        json!({"id": id, "object": "price", "active": true, "currency": currency, "unit_amount": amount,
            "unit_amount_decimal": amount.to_string(), "product": "prod_1", "type": "recurring",
            "nickname": null, "metadata": {}, "created": 0, "livemode": false,
            "recurring": {"interval": interval, "interval_count": 1}})
    }

    fn subscription(trial_days: Option<i64>, now: i64) -> Value {
        start(
            NewSubscription {
                id: "sub_1",
                customer: "cus_1",
                items: vec![NewItem {
                    id: "si_1".into(),
                    price: price("price_m", 1900, "month", "usd"),
                    quantity: 2,
                }],
                metadata: json!({"tier": "pro"}).as_object().cloned().unwrap(),
                trial_days,
                latest_invoice: "in_1",
            },
            Stamp {
                now,
                livemode: false,
            },
        )
    }

    fn params(value: Value) -> Params {
        Params::of(value)
    }

    #[test]
    fn a_new_subscription_is_active_for_one_calendar_period_on_items_and_top_level() {
        let now = at(2026, 1, 31) + 3600;

        let sub = subscription(None, now);

        assert_eq!(sub["status"], "active");
        assert_eq!(sub["current_period_start"], now);
        assert_eq!(sub["current_period_end"], at(2026, 2, 28) + 3600);
        assert_eq!(
            sub["items"]["data"][0]["current_period_end"],
            sub["current_period_end"]
        );
        assert_eq!(sub["items"]["data"][0]["plan"]["id"], "price_m");
        assert_eq!(sub["metadata"], json!({"tier": "pro"}));
        assert_eq!(sub["trial_end"], Value::Null);
    }

    #[test]
    fn a_trial_subscription_is_trialing_until_its_trial_ends() {
        let now = at(2026, 3, 1);

        let sub = subscription(Some(14), now);

        assert_eq!(sub["status"], "trialing");
        assert_eq!(sub["trial_start"], now);
        assert_eq!(sub["trial_end"], now + 14 * DAY);
        assert_eq!(sub["current_period_end"], now + 14 * DAY);
        assert!(in_trial(&sub, now));
    }

    #[test]
    fn renewals_follow_the_anchor_day_and_a_failed_one_is_past_due() {
        let sub = subscription(None, at(2026, 1, 31));

        let second = renew(&sub, "in_2", true);
        let third = renew(&second, "in_3", false);

        assert_eq!(period(&second), (at(2026, 2, 28), at(2026, 3, 31)));
        assert_eq!(second["status"], "active");
        assert_eq!(second["latest_invoice"], "in_2");
        assert_eq!(period(&third), (at(2026, 3, 31), at(2026, 4, 30)));
        assert_eq!(third["status"], "past_due");
        assert_eq!(
            third["items"]["data"][0]["current_period_start"],
            at(2026, 3, 31)
        );
    }

    #[test]
    fn after_a_trial_the_first_paid_period_starts_at_the_trial_end() {
        let sub = subscription(Some(10), at(2026, 5, 1));

        let paid = renew(&sub, "in_2", true);

        assert_eq!(period(&paid), (at(2026, 5, 11), at(2026, 6, 11)));
        assert_eq!(paid["status"], "active");
    }

    #[test]
    fn cancel_at_period_end_sets_and_clears_cancel_at() {
        let sub = subscription(None, at(2026, 1, 1));

        let leaving = cancel_at_period_end(&sub, true, at(2026, 1, 5));
        let staying = cancel_at_period_end(&leaving, false, at(2026, 1, 6));

        assert_eq!(leaving["cancel_at_period_end"], true);
        assert_eq!(leaving["cancel_at"], at(2026, 2, 1));
        assert_eq!(leaving["canceled_at"], at(2026, 1, 5));
        assert_eq!(staying["cancel_at"], Value::Null);
        assert_eq!(staying["canceled_at"], Value::Null);
        assert_eq!(staying["cancellation_details"]["reason"], Value::Null);
    }

    #[test]
    fn ending_records_when_and_why() {
        let sub = subscription(None, at(2026, 1, 1));

        let ended = end(&sub, at(2026, 1, 9));

        assert!(is_canceled(&ended));
        assert_eq!(ended["ended_at"], at(2026, 1, 9));
        assert_eq!(ended["canceled_at"], at(2026, 1, 9));
        assert_eq!(
            ended["cancellation_details"]["reason"],
            "cancellation_requested"
        );
    }

    #[test]
    fn an_update_changes_price_quantity_metadata_and_cancellation() {
        let sub = subscription(None, at(2026, 1, 1));
        let mut p = params(
            json!({"cancel_at_period_end": "true", "metadata": {"tier": "team"},
            "items": [{"id": "si_1", "price": "price_y", "quantity": "3"}], "proration_behavior": "none"}),
        );
        let update = parse_update(&mut p).unwrap();
        p.finish().unwrap();

        let changed = apply_update(
            &sub,
            update,
            &[price("price_y", 19000, "month", "usd")],
            at(2026, 1, 2),
        )
        .unwrap();

        assert_eq!(changed["items"]["data"][0]["price"]["id"], "price_y");
        assert_eq!(changed["items"]["data"][0]["plan"]["amount"], 19000);
        assert_eq!(changed["items"]["data"][0]["quantity"], 3);
        assert_eq!(changed["metadata"], json!({"tier": "team"}));
        assert_eq!(changed["cancel_at_period_end"], true);
    }

    #[test]
    fn updates_that_cannot_apply_are_refused() {
        let sub = subscription(None, at(2026, 1, 1));
        let change = |items: Value| parse_update(&mut params(json!({ "items": items }))).unwrap();

        let unknown_item = apply_update(
            &sub,
            change(json!([{"id": "si_x", "price": "p"}])),
            &[price("p", 1, "month", "usd")],
            0,
        );
        let other_currency = apply_update(
            &sub,
            change(json!([{"id": "si_1", "price": "p"}])),
            &[price("p", 1, "month", "eur")],
            0,
        );
        let mut once = price("p", 1, "month", "usd");
        once["type"] = json!("one_time");
        let one_time = apply_update(
            &sub,
            change(json!([{"id": "si_1", "price": "p"}])),
            &[once],
            0,
        );
        let ended = end(&sub, 5);
        let on_canceled = apply_update(
            &ended,
            parse_update(&mut params(json!({"cancel_at_period_end": "true"}))).unwrap(),
            &[],
            6,
        );
        let metadata_on_canceled = apply_update(
            &ended,
            parse_update(&mut params(json!({"metadata": {"a": "b"}}))).unwrap(),
            &[],
            6,
        );

        assert_eq!(unknown_item.unwrap_err().status, 404);
        assert_eq!(
            other_currency.unwrap_err().param.as_deref(),
            Some("items[0][price]")
        );
        assert_eq!(
            one_time.unwrap_err().param.as_deref(),
            Some("items[0][price]")
        );
        assert!(on_canceled.is_err());
        assert!(metadata_on_canceled.is_ok());
        assert!(parse_update(&mut params(json!({"items": [{"price": "p"}]}))).is_err());
        assert!(parse_update(&mut params(json!({"proration_behavior": "sometimes"}))).is_err());
    }

    #[test]
    fn an_invoice_bills_each_item_for_the_period_and_names_its_subscription_twice() {
        let sub = subscription(None, at(2026, 1, 1));
        let customer = json!({"id": "cus_1", "email": "ann@example.test", "name": "Ann"});

        let invoice = invoice(
            &NewInvoice {
                id: "in_1",
                number: "ABC-0001",
                customer: &customer,
                subscription: &sub,
                line_ids: vec!["il_1".into()],
                billing_reason: "subscription_create",
                period: period(&sub),
                paid: true,
            },
            Stamp {
                now: at(2026, 1, 1),
                livemode: false,
            },
        );

        assert_eq!(invoice["status"], "paid");
        assert_eq!(invoice["amount_paid"], 3800);
        assert_eq!(invoice["amount_remaining"], 0);
        assert_eq!(invoice["subscription"], "sub_1");
        assert_eq!(
            invoice["parent"]["subscription_details"]["subscription"],
            "sub_1"
        );
        assert_eq!(
            invoice["parent"]["subscription_details"]["metadata"],
            json!({"tier": "pro"})
        );
        assert_eq!(invoice["lines"]["data"][0]["period"]["end"], at(2026, 2, 1));
        assert_eq!(invoice["customer_email"], "ann@example.test");
    }

    #[test]
    fn a_trial_invoice_is_for_nothing_and_a_failed_one_stays_open() {
        let trial = subscription(Some(7), at(2026, 1, 1));
        let customer = json!({"id": "cus_1", "email": null, "name": null});
        let make = |sub: &Value, paid: bool| {
            invoice(
                &NewInvoice {
                    id: "in_1",
                    number: "A-0001",
                    customer: &customer,
                    subscription: sub,
                    line_ids: vec!["il_1".into()],
                    billing_reason: "subscription_cycle",
                    period: period(sub),
                    paid,
                },
                Stamp {
                    now: at(2026, 1, 1),
                    livemode: false,
                },
            )
        };

        let free = make(&trial, true);
        let failed = make(&renew(&trial, "in_2", false), false);

        assert_eq!(free["total"], 0);
        assert_eq!(failed["status"], "open");
        assert_eq!(failed["amount_due"], 3800);
        assert_eq!(failed["amount_paid"], 0);
    }

    fn changed_to(sub: &Value, price_id: &str, amount: i64) -> Value {
        let update = parse_update(&mut params(
            json!({"items": [{"id": "si_1", "price": price_id}], "proration_behavior": "always_invoice",
                "payment_behavior": "pending_if_incomplete"}),
        ))
        .unwrap();
        assert_eq!(update.proration, Some("always_invoice"));
        assert_eq!(update.payment, Some("pending_if_incomplete"));
        apply_update(sub, update, &[price(price_id, amount, "month", "usd")], 0).unwrap()
    }

    #[test]
    fn a_mid_period_price_change_credits_the_unused_time_and_charges_the_rest() {
        let start = at(2026, 1, 1);
        let sub = subscription(None, start);
        let changed = changed_to(&sub, "price_team", 4900);
        let (_, end) = period(&sub);
        let halfway = start + (end - start) / 2;
        let mut ids = 0;

        let lines = proration_lines(
            &sub,
            &changed,
            "in_9",
            Stamp {
                now: halfway,
                livemode: false,
            },
            || {
                ids += 1;
                format!("il_{ids}")
            },
        );

        assert!(bills_differently(&sub, &changed));
        assert!(!bills_differently(&sub, &sub));
        let amounts: Vec<i64> = lines.iter().filter_map(|l| int(l, "amount")).collect();
        assert_eq!(
            amounts,
            vec![-1900, 4900],
            "two seats, half a period each way"
        );
        assert_eq!(lines_total(&lines), 3000);
        for line in &lines {
            assert_eq!(
                line["parent"]["subscription_item_details"]["proration"],
                true
            );
            assert_eq!(line["period"], json!({"start": halfway, "end": end}));
        }
    }

    #[test]
    fn a_proration_invoice_owes_its_net_charge_and_never_less_than_nothing() {
        let sub = subscription(None, at(2026, 1, 1));
        let customer = json!({"id": "cus_1", "email": null, "name": null});
        let base = |paid| {
            invoice(
                &NewInvoice {
                    id: "in_9",
                    number: "A-0002",
                    customer: &customer,
                    subscription: &sub,
                    line_ids: Vec::new(),
                    billing_reason: "subscription_update",
                    period: (5, 5),
                    paid,
                },
                Stamp {
                    now: 5,
                    livemode: false,
                },
            )
        };
        let lines = |amounts: &[i64]| -> Vec<Value> {
            amounts.iter().map(|a| json!({"amount": a})).collect()
        };

        let open = proration_invoice(base(false), lines(&[-100, 300]), false, 5);
        let credit = proration_invoice(base(true), lines(&[-300, 100]), true, 5);

        assert_eq!(open["status"], "open");
        assert_eq!(open["billing_reason"], "subscription_update");
        assert_eq!(
            (
                open["total"].clone(),
                open["amount_due"].clone(),
                open["amount_remaining"].clone()
            ),
            (json!(200), json!(200), json!(200))
        );
        assert_eq!(open["lines"]["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(credit["total"], -200);
        assert_eq!(credit["amount_due"], 0);
        assert_eq!(credit["ending_balance"], -200);
        let paid = paid_now(&open, 9);
        assert_eq!(paid["status"], "paid");
        assert_eq!(paid["amount_paid"], 200);
        assert_eq!(paid["status_transitions"]["paid_at"], 9);
    }

    #[test]
    fn a_pending_update_keeps_the_old_items_until_paid_and_is_dropped_once_expired() {
        let now = at(2026, 1, 10);
        let sub = subscription(None, at(2026, 1, 1));
        let changed = changed_to(&sub, "price_team", 4900);

        let pending = with_pending(&sub, &changed, "in_9", now);

        assert_eq!(
            pending["items"], sub["items"],
            "still billing the old price"
        );
        assert_eq!(pending["latest_invoice"], "in_9");
        assert_eq!(
            pending["pending_update"]["expires_at"],
            now + PENDING_UPDATE_LIFETIME
        );
        assert_eq!(
            pending["pending_update"]["subscription_items"][0]["price"]["id"],
            "price_team"
        );
        let applied = apply_pending(&pending, now + 60).unwrap();
        assert_eq!(applied["items"]["data"][0]["price"]["id"], "price_team");
        assert_eq!(applied["pending_update"], Value::Null);
        let late = now + PENDING_UPDATE_LIFETIME;
        assert!(apply_pending(&pending, late).is_none(), "too late to apply");
        assert!(
            expire_pending(&pending, now + 60).is_none(),
            "still in time"
        );
        let expired = expire_pending(&pending, late).unwrap();
        assert_eq!(expired["pending_update"], Value::Null);
        assert_eq!(expired["items"], sub["items"]);
        assert!(expire_pending(&sub, late).is_none(), "nothing pending");
        let due = past_due(&changed, "in_9");
        assert_eq!(
            (due["status"].clone(), due["latest_invoice"].clone()),
            (json!("past_due"), json!("in_9"))
        );
    }

    #[test]
    fn a_pending_update_takes_only_what_bills() {
        for (extra, param) in [
            (json!({"metadata": {"a": "b"}}), "metadata"),
            (
                json!({"cancel_at_period_end": "true"}),
                "cancel_at_period_end",
            ),
            (json!({"description": "x"}), "description"),
        ] {
            let mut body = json!({"payment_behavior": "pending_if_incomplete",
                "items": [{"id": "si_1", "price": "p"}]});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().cloned().unwrap());

            let refused = parse_update(&mut params(body)).unwrap_err();

            assert_eq!(refused.param.as_deref(), Some(param));
        }
        assert!(parse_update(&mut params(json!({"payment_behavior": "whenever"}))).is_err());
        assert!(
            parse_update(&mut params(
                json!({"payment_behavior": "allow_incomplete", "metadata": {"a": "b"}})
            ))
            .is_ok()
        );
    }

    #[test]
    fn invoice_numbers_count_up_per_customer() {
        let customer = json!({"id": "cus_1", "invoice_prefix": "ABCD", "next_invoice_sequence": 1});

        let (first, customer) = take_invoice_number(&customer);
        let (second, _) = take_invoice_number(&customer);

        assert_eq!(
            (first.as_str(), second.as_str()),
            ("ABCD-0001", "ABCD-0002")
        );
    }

    #[test]
    fn listing_hides_canceled_subscriptions_unless_asked() {
        assert_eq!(
            filters(&mut params(json!({}))).unwrap(),
            vec![Filter::NotIn(
                "$.status",
                vec!["canceled", "incomplete_expired"]
            )]
        );
        assert_eq!(
            filters(&mut params(json!({"status": "all"}))).unwrap(),
            vec![]
        );
        assert_eq!(
            filters(&mut params(
                json!({"customer": "cus_1", "status": "canceled"})
            ))
            .unwrap(),
            vec![
                Filter::Eq("$.customer", json!("cus_1")),
                Filter::Eq("$.status", json!("canceled"))
            ]
        );
    }
}
