//! Checkout session routes (create, retrieve, list, line items, expire) and what happens to
//! a session besides: it expires lazily when read after `expires_at` (once, with its event),
//! and paying it (on the hosted page or through a test control) creates the customer if
//! needed, then the subscription and its paid invoice, or the payment intent. Paid with a
//! delayed method, the session completes `unpaid` (an `incomplete` subscription with an open
//! invoice, or a `processing` payment intent) and settles later: [`settle_payment`].

use crate::call::{Call, Outcome};
use crate::http::Fail;
use crate::model::billing::{self, NewInvoice, NewItem, NewSubscription};
use crate::model::checkout::{self, Mode, Payment};
use crate::model::error::StripeError;
use crate::model::events::Draft;
use crate::model::params::Params;
use crate::model::{self, Stamp, customers, int, text};
use crate::resources::{self, existing};
use crate::store::{Scope, Store};
use serde_json::Value;
use tollgate::ids::{base62_u128, new_id, random_u128};
use worker::D1PreparedStatement;

/// A change to a session and what comes with it, not yet committed.
#[derive(Debug, Default)]
pub(crate) struct Change {
    pub(crate) writes: Vec<D1PreparedStatement>,
    pub(crate) events: Vec<(Scope, Draft)>,
}

/// The fields of a session callers may expand, and the type each names.
const EXPANDABLE: &[(&str, &str)] = &[
    ("customer", "customer"),
    ("subscription", "subscription"),
    ("payment_intent", "payment_intent"),
    ("invoice", "invoice"),
];

/// The session as it stands at `now`: an open session whose time is up expires now.
pub(crate) fn settle(
    store: &Store,
    scope: &Scope,
    session: Value,
    now: i64,
    change: &mut Change,
) -> Result<Value, Fail> {
    if !checkout::is_past_expiry(&session, now) {
        return Ok(session);
    }
    expire_now(store, scope, &session, change)
}

/// Expires an open session, with its `checkout.session.expired` event.
pub(crate) fn expire_now(
    store: &Store,
    scope: &Scope,
    session: &Value,
    change: &mut Change,
) -> Result<Value, Fail> {
    let expired = checkout::expire(session);
    change.writes.push(store.replace(scope, &expired)?);
    change.events.push((
        scope.clone(),
        Draft::new(
            "checkout.session.expired",
            checkout::public(&expired, false),
        ),
    ));
    Ok(expired)
}

/// How the buyer pays: a card settles at once; a delayed method (SEPA Direct Debit here,
/// like ACH, Boleto or a bank transfer) completes the session `unpaid` and settles later,
/// through the `succeed_payment` / `fail_payment` test controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Card,
    Delayed,
}

impl Method {
    pub(crate) fn of(name: Option<&str>) -> Option<Self> {
        match name.unwrap_or("card") {
            "card" => Some(Self::Card),
            "sepa_debit" => Some(Self::Delayed),
            _ => None,
        }
    }
}

/// Pays an open session at `stamp`: see the module's summary. `email` is what the buyer
/// typed when the session had no customer and no email.
#[expect(
    clippy::too_many_arguments,
    reason = "one payment's facts, each needed"
)]
pub(crate) async fn complete(
    store: &Store,
    scope: &Scope,
    session: &Value,
    email: Option<&str>,
    method: Method,
    stamp: Stamp,
    now_ms: i64,
    change: &mut Change,
) -> Result<Value, Fail> {
    let delayed = method == Method::Delayed;
    let mut events = Vec::new();
    let (mut customer, is_new) = match text(session, "customer") {
        Some(id) => {
            let customer = store
                .get(scope, "customer", id)
                .await?
                .ok_or_else(|| StripeError::no_such("customer", id, "customer"))?;
            (customer, false)
        }
        None => {
            let address = text(session, "customer_email").or(email);
            let customer = customers::build(&new_id("cus"), customers::with_email(address), stamp);
            events.push((
                scope.clone(),
                Draft::new("customer.created", customer.clone()),
            ));
            (customer, true)
        }
    };
    let customer_id = text(&customer, "id").unwrap_or_default().to_owned();
    let buyer_email = text(&customer, "email").map(str::to_owned);
    let completed = match Mode::of(session) {
        Some(Mode::Subscription) => {
            let subscription_id = new_id("sub");
            let invoice_id = new_id("in");
            let lines = checkout::line_items(session);
            let items = lines
                .iter()
                .map(|line| NewItem {
                    id: new_id("si"),
                    price: line["price"].clone(),
                    quantity: int(line, "quantity").unwrap_or(1),
                })
                .collect();
            let (metadata, trial_days) = checkout::subscription_data(session);
            let subscription = billing::start(
                NewSubscription {
                    id: &subscription_id,
                    customer: &customer_id,
                    items,
                    metadata,
                    trial_days,
                    latest_invoice: &invoice_id,
                },
                stamp,
            );
            // A trial owes nothing now; otherwise a delayed first payment leaves the
            // subscription `incomplete` and its invoice open until it settles.
            let pending = delayed && trial_days.is_none();
            let subscription = if pending {
                billing::incomplete(&subscription)
            } else {
                subscription
            };
            let (number, numbered) = billing::take_invoice_number(&customer);
            customer = numbered;
            let invoice = billing::invoice(
                &NewInvoice {
                    id: &invoice_id,
                    number: &number,
                    customer: &customer,
                    subscription: &subscription,
                    line_ids: lines.iter().map(|_| new_id("il")).collect(),
                    billing_reason: "subscription_create",
                    period: billing::period(&subscription),
                    paid: !pending,
                },
                stamp,
            );
            let completed = checkout::complete(
                session,
                &Payment {
                    customer: &customer_id,
                    email: buyer_email.as_deref(),
                    subscription: Some(&subscription_id),
                    invoice: Some(&invoice_id),
                    payment_intent: None,
                    nothing_due: int(&invoice, "total") == Some(0),
                    pending,
                },
            );
            change
                .writes
                .push(store.insert(scope, "subscription", &subscription, now_ms)?);
            change
                .writes
                .push(store.insert(scope, "invoice", &invoice, now_ms)?);
            crate::refunds::charge_invoice(
                store,
                scope,
                &invoice,
                stamp,
                now_ms,
                &mut change.writes,
            )?;
            events.push((
                scope.clone(),
                Draft::new(
                    "checkout.session.completed",
                    checkout::public(&completed, false),
                ),
            ));
            events.push((
                scope.clone(),
                Draft::new("customer.subscription.created", subscription),
            ));
            if !pending {
                events.push((scope.clone(), Draft::new("invoice.paid", invoice)));
            }
            completed
        }
        _ => {
            let total = int(session, "amount_total").unwrap_or(0);
            let pending = delayed && total > 0;
            let intent = (total > 0).then(|| {
                let id = new_id("pi");
                let secret = format!("{id}_secret_{}", base62_u128(random_u128()));
                let intent = checkout::payment_intent(&id, &secret, session, &customer_id, stamp);
                if pending {
                    checkout::processing(&intent)
                } else {
                    intent
                }
            });
            let intent_id = intent
                .as_ref()
                .and_then(|i| text(i, "id"))
                .map(str::to_owned);
            if let Some(intent) = &intent {
                crate::refunds::charge_intent(
                    store,
                    scope,
                    intent,
                    buyer_email.as_deref(),
                    stamp,
                    now_ms,
                    false,
                    &mut change.writes,
                )?;
            }
            let completed = checkout::complete(
                session,
                &Payment {
                    customer: &customer_id,
                    email: buyer_email.as_deref(),
                    subscription: None,
                    invoice: None,
                    payment_intent: intent_id.as_deref(),
                    nothing_due: total == 0,
                    pending,
                },
            );
            events.push((
                scope.clone(),
                Draft::new(
                    "checkout.session.completed",
                    checkout::public(&completed, false),
                ),
            ));
            completed
        }
    };
    // The customer is written last, with its invoice sequence moved on.
    change.writes.push(if is_new {
        store.insert(scope, "customer", &customer, now_ms)?
    } else {
        store.replace(scope, &customer)?
    });
    change.writes.push(store.replace(scope, &completed)?);
    change.events.extend(events);
    Ok(completed)
}

/// Settles the delayed payment of a completed, unpaid session. Succeeded: the payment
/// intent succeeds (or the subscription's first invoice is paid and the subscription turns
/// `active`, with `invoice.paid` and `customer.subscription.updated`), the session becomes
/// `paid`, and `checkout.session.async_payment_succeeded` fires. Failed: the payment intent
/// returns to `requires_payment_method` (or the invoice stays open, with
/// `invoice.payment_failed`), and `checkout.session.async_payment_failed` fires.
pub(crate) async fn settle_payment(
    store: &Store,
    scope: &Scope,
    session: &Value,
    succeeded: bool,
    stamp: Stamp,
    now_ms: i64,
    change: &mut Change,
) -> Result<Value, Fail> {
    if !checkout::awaits_payment(session) {
        return Err(StripeError::invalid(format!(
            "This Checkout Session has no payment in progress (status: {}, payment_status: {}).",
            text(session, "status").unwrap_or_default(),
            text(session, "payment_status").unwrap_or_default()
        ))
        .into());
    }
    let stored = async |kind: &str, field: &str| {
        let id = text(session, field).unwrap_or_default();
        store
            .get(scope, kind, id)
            .await?
            .ok_or_else(|| Fail::Internal(format!("session names missing {kind} {id}")))
    };
    let mut events = Vec::new();
    if Mode::of(session) == Some(Mode::Subscription) {
        let invoice = stored("invoice", "invoice").await?;
        if succeeded {
            let paid = billing::pay_invoice(&invoice, stamp.now);
            let subscription = stored("subscription", "subscription").await?;
            let active = billing::activate(&subscription);
            change.writes.push(store.replace(scope, &paid)?);
            crate::refunds::charge_invoice(store, scope, &paid, stamp, now_ms, &mut change.writes)?;
            change.writes.push(store.replace(scope, &active)?);
            events.push(Draft::new("invoice.paid", paid));
            events.push(Draft::update(
                "customer.subscription.updated",
                &subscription,
                active,
            ));
        } else {
            events.push(Draft::new("invoice.payment_failed", invoice));
        }
    } else {
        let intent = stored("payment_intent", "payment_intent").await?;
        let settled = checkout::settle_intent(&intent, succeeded);
        let email = session["customer_details"]["email"].as_str();
        crate::refunds::charge_intent(
            store,
            scope,
            &settled,
            email,
            stamp,
            now_ms,
            true,
            &mut change.writes,
        )?;
    }
    let settled = checkout::settled(session, succeeded);
    change.writes.push(store.replace(scope, &settled)?);
    events.push(Draft::new(
        if succeeded {
            "checkout.session.async_payment_succeeded"
        } else {
            "checkout.session.async_payment_failed"
        },
        checkout::public(&settled, false),
    ));
    change
        .events
        .extend(events.into_iter().map(|e| (scope.clone(), e)));
    Ok(settled)
}

/// The session `id` in the caller's scope as it stands now.
pub(crate) async fn current(call: &Call, id: &str, change: &mut Change) -> Result<Value, Fail> {
    let session = existing(call, "checkout.session", id, "session").await?;
    settle(&call.store, &call.scope, session, call.stamp.now, change)
}

fn answer(body: Value, change: Change) -> Outcome {
    Outcome::write(body, change.writes, change.events)
}

/// The session as answered, with the expansions asked for.
async fn view(call: &Call, session: &Value, requested: &[String]) -> Result<Value, Fail> {
    let with_lines = requested.iter().any(|e| e == "line_items");
    let others: Vec<String> = requested
        .iter()
        .filter(|e| *e != "line_items")
        .cloned()
        .collect();
    resources::expand(
        call,
        checkout::public(session, with_lines),
        &others,
        EXPANDABLE,
    )
    .await
}

pub(crate) async fn create(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let new = checkout::parse_create(&mut p, call.stamp.now)?;
    let requested = p.expand()?;
    p.finish()?;
    let mut prices = Vec::with_capacity(new.lines.len());
    for (i, line) in new.lines.iter().enumerate() {
        prices.push(
            existing(
                call,
                "price",
                &line.price,
                &format!("line_items[{i}][price]"),
            )
            .await?,
        );
    }
    checkout::check_prices(new.mode, &prices)?;
    if let Some(customer) = &new.customer {
        existing(call, "customer", customer, "customer").await?;
    }
    let mut items = Vec::with_capacity(prices.len());
    for (line, price) in new.lines.iter().zip(&prices) {
        let product = call
            .store
            .get(
                &call.scope,
                "product",
                text(price, "product").unwrap_or_default(),
            )
            .await?;
        let name = product
            .as_ref()
            .and_then(|p| text(p, "name"))
            .unwrap_or("Item");
        items.push(checkout::line_item(
            &new_id("li"),
            price,
            name,
            line.quantity,
        ));
    }
    let id = checkout::session_id(call.scope.livemode, &base62_u128(random_u128()));
    let url = format!("{}/pay/{id}", call.origin);
    let session = checkout::build(&id, &new, items, &url, call.stamp);
    let write = call
        .store
        .insert(&call.scope, "checkout.session", &session, call.now_ms)?;
    let body = view(call, &session, &requested).await?;
    Ok(Outcome::write(body, vec![write], Vec::new()))
}

pub(crate) async fn retrieve(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let requested = p.expand()?;
    p.finish()?;
    let mut change = Change::default();
    let session = current(call, call.path("id"), &mut change).await?;
    Ok(answer(view(call, &session, &requested).await?, change))
}

pub(crate) async fn list(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let filters = checkout::filters(&mut p)?;
    p.expand()?;
    let (sessions, has_more) = resources::page(call, &mut p, "checkout.session", &filters).await?;
    p.finish()?;
    let mut change = Change::default();
    let mut data = Vec::with_capacity(sessions.len());
    for session in sessions {
        let session = settle(
            &call.store,
            &call.scope,
            session,
            call.stamp.now,
            &mut change,
        )?;
        data.push(checkout::public(&session, false));
    }
    Ok(answer(
        model::list("/v1/checkout/sessions", data, has_more),
        change,
    ))
}

pub(crate) async fn line_items(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let options = p.list_options()?;
    p.expand()?;
    p.finish()?;
    let mut change = Change::default();
    let session = current(call, call.path("id"), &mut change).await?;
    let (data, has_more) = model::page_of(&checkout::line_items(&session), &options, "line item")?;
    let url = format!("/v1/checkout/sessions/{}/line_items", call.path("id"));
    Ok(answer(model::list(&url, data, has_more), change))
}

pub(crate) async fn expire(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    p.expand()?;
    p.finish()?;
    let session = existing(call, "checkout.session", call.path("id"), "session").await?;
    if !checkout::is_open(&session) {
        return Err(StripeError::invalid(format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{}\".",
            text(&session, "status").unwrap_or_default()
        ))
        .into());
    }
    let mut change = Change::default();
    let expired = expire_now(&call.store, &call.scope, &session, &mut change)?;
    Ok(answer(checkout::public(&expired, false), change))
}
