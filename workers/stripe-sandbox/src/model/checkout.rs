//! Checkout sessions: the parameters of a new session and the rules they must meet (modes,
//! prices, expiry window), the session and line-item objects, and the session's states —
//! `open`, then `complete` once paid or `expired` once its time passed or it was expired.
//!
//! What Stripe keeps about a session but never shows (its `subscription_data` and
//! `payment_intent_data`, its line items unless expanded) is stored under a private field
//! that [`public`] removes from every answer and event.

use super::error::StripeError;
use super::params::{MetadataPatch, Params};
use super::{Filter, Stamp, int, is_email, is_http_url, object, prices, set, text};
use serde_json::{Map, Value, json};

/// The private field of stored sessions.
const PRIVATE: &str = "_sandbox";
/// A session lives 24 hours unless told otherwise, and at least 30 minutes.
const DEFAULT_LIFETIME: i64 = 24 * 3600;
const MIN_LIFETIME: i64 = 30 * 60;
/// Stripe's limits on line items and on `client_reference_id`.
const MAX_LINE_ITEMS: usize = 100;
const MAX_REFERENCE_CHARS: usize = 200;
/// Where Stripe puts the session id in `success_url`.
const SESSION_ID_TEMPLATE: &str = "{CHECKOUT_SESSION_ID}";

/// What a session sells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Payment,
    Subscription,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::Subscription => "subscription",
        }
    }

    pub(crate) fn of(session: &Value) -> Option<Self> {
        match text(session, "mode")? {
            "payment" => Some(Self::Payment),
            "subscription" => Some(Self::Subscription),
            _ => None,
        }
    }
}

/// One requested line: a price id and a quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LineRequest {
    pub(crate) price: String,
    pub(crate) quantity: i64,
}

/// A validated request for a new session; prices and the customer are checked by the caller
/// against what exists.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NewSession {
    pub(crate) mode: Mode,
    pub(crate) lines: Vec<LineRequest>,
    pub(crate) customer: Option<String>,
    success_url: Option<String>,
    cancel_url: Option<String>,
    customer_email: Option<String>,
    client_reference_id: Option<String>,
    metadata: Option<MetadataPatch>,
    subscription_metadata: Option<MetadataPatch>,
    trial_period_days: Option<i64>,
    payment_intent_metadata: Option<MetadataPatch>,
    expires_at: i64,
}

fn url_param(p: &mut Params, key: &str) -> Result<Option<String>, StripeError> {
    match p.string(key)? {
        None => Ok(None),
        Some(url) if is_http_url(&url) => Ok(Some(url)),
        Some(_) => Err(StripeError::invalid_value(
            key,
            "url_invalid",
            format!("Not a valid URL: {key}"),
        )),
    }
}

fn parse_line(p: &mut Params) -> Result<LineRequest, StripeError> {
    let price_name = p.name("price");
    let price = p.string("price")?.filter(|s| !s.is_empty()).ok_or_else(|| {
        StripeError::invalid(format!(
            "You must specify either `price` or `price_data` for each line item; {price_name} is missing. (The sandbox supports `price` only.)"
        ))
        .with_param(&price_name)
    })?;
    let quantity_name = p.name("quantity");
    let quantity = p.integer("quantity")?.ok_or_else(|| {
        StripeError::invalid(format!(
            "Quantity is required. Add `quantity` to {quantity_name}."
        ))
        .with_param(&quantity_name)
    })?;
    if !(1..=999_999).contains(&quantity) {
        return Err(StripeError::invalid_value(
            &quantity_name,
            "parameter_invalid_integer",
            format!("Invalid {quantity_name}: must be between 1 and 999999"),
        ));
    }
    Ok(LineRequest { price, quantity })
}

/// Reads `POST /v1/checkout/sessions` at `now` (Unix seconds).
///
/// # Errors
/// Unknown or missing parameters, settings of the other mode, both `customer` and
/// `customer_email`, URLs that are not http(s), and an `expires_at` outside 30 minutes to 24
/// hours from now.
pub(crate) fn parse_create(p: &mut Params, now: i64) -> Result<NewSession, StripeError> {
    let mode = match p.one_of("mode", &["payment", "subscription", "setup"])? {
        Some("payment") => Mode::Payment,
        Some("subscription") => Mode::Subscription,
        Some(_) => {
            return Err(StripeError::invalid(
                "The Stripe sandbox supports `payment` and `subscription` modes, not `setup`.",
            )
            .with_param("mode"));
        }
        None => return Err(StripeError::missing_parameter("mode")),
    };
    let lines = p
        .list("line_items", |item, _| parse_line(item))?
        .filter(|l| !l.is_empty())
        .ok_or_else(|| StripeError::missing_parameter("line_items"))?;
    if lines.len() > MAX_LINE_ITEMS {
        return Err(StripeError::invalid_value(
            "line_items",
            "parameter_invalid_array",
            format!("Invalid line_items: at most {MAX_LINE_ITEMS} line items are allowed"),
        ));
    }
    let customer = p.string("customer")?.filter(|s| !s.is_empty());
    let customer_email = p.string("customer_email")?.filter(|s| !s.is_empty());
    if customer.is_some() && customer_email.is_some() {
        return Err(StripeError::invalid(
            "You may only specify one of these parameters: customer, customer_email.",
        ));
    }
    if let Some(email) = &customer_email
        && !is_email(email)
    {
        return Err(StripeError::invalid_value(
            "customer_email",
            "email_invalid",
            format!("Invalid email address: {email}"),
        ));
    }
    let client_reference_id = p.string("client_reference_id")?.filter(|s| !s.is_empty());
    if client_reference_id
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS)
    {
        return Err(StripeError::invalid_value(
            "client_reference_id",
            "parameter_invalid_string_too_long",
            format!("client_reference_id must be at most {MAX_REFERENCE_CHARS} characters"),
        ));
    }
    let subscription_data = p.object("subscription_data", |s| {
        let metadata = s.metadata("metadata")?;
        let days_name = s.name("trial_period_days");
        let trial = s.integer("trial_period_days")?;
        if trial.is_some_and(|d| !(1..=730).contains(&d)) {
            return Err(StripeError::invalid_value(
                &days_name,
                "parameter_invalid_integer",
                "subscription_data[trial_period_days] must be between 1 and 730",
            ));
        }
        Ok((metadata, trial))
    })?;
    let payment_intent_data = p.object("payment_intent_data", |s| s.metadata("metadata"))?;
    if mode == Mode::Payment && subscription_data.is_some() {
        return Err(StripeError::invalid(
            "You can not pass `subscription_data` in `payment` mode.",
        )
        .with_param("subscription_data"));
    }
    if mode == Mode::Subscription && payment_intent_data.is_some() {
        return Err(StripeError::invalid(
            "You can not pass `payment_intent_data` in `subscription` mode.",
        )
        .with_param("payment_intent_data"));
    }
    let expires_at = match p.integer("expires_at")? {
        None => now + DEFAULT_LIFETIME,
        Some(at) if at < now + MIN_LIFETIME => {
            return Err(StripeError::invalid_value(
                "expires_at",
                "parameter_invalid_integer",
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            ));
        }
        Some(at) if at > now + DEFAULT_LIFETIME => {
            return Err(StripeError::invalid_value(
                "expires_at",
                "parameter_invalid_integer",
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            ));
        }
        Some(at) => at,
    };
    let (subscription_metadata, trial_period_days) = subscription_data.unwrap_or((None, None));
    Ok(NewSession {
        mode,
        lines,
        customer,
        success_url: url_param(p, "success_url")?,
        cancel_url: url_param(p, "cancel_url")?,
        customer_email,
        client_reference_id,
        metadata: p.metadata("metadata")?,
        subscription_metadata,
        trial_period_days,
        payment_intent_metadata: payment_intent_data.flatten(),
        expires_at,
    })
}

/// Checks the resolved prices (in line order) against the mode: all active, one currency,
/// recurring with one interval in subscription mode, one-time in payment mode.
///
/// # Errors
/// 400 naming the first offending line's price.
pub(crate) fn check_prices(mode: Mode, prices: &[Value]) -> Result<(), StripeError> {
    let param = |i: usize| format!("line_items[{i}][price]");
    let mut currency = None;
    let mut recurrence = None;
    for (i, price) in prices.iter().enumerate() {
        if price.get("active") != Some(&Value::Bool(true)) {
            return Err(StripeError::invalid(
                "The price specified is inactive. This field only accepts active prices.",
            )
            .with_param(&param(i)));
        }
        let this_currency = text(price, "currency");
        if currency.is_some_and(|c| Some(c) != this_currency) {
            return Err(StripeError::invalid(
                "All line items in a Checkout Session must share one currency.",
            )
            .with_param(&param(i)));
        }
        currency = this_currency;
        match (mode, prices::recurrence(price)) {
            (Mode::Payment, Some(_)) => {
                return Err(StripeError::invalid(
                    "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
                )
                .with_param(&param(i)));
            }
            (Mode::Subscription, None) => {
                return Err(StripeError::invalid(
                    "You specified `subscription` mode but passed a one-time price. The Stripe sandbox takes only recurring prices in `subscription` mode.",
                )
                .with_param(&param(i)));
            }
            (Mode::Subscription, Some(this)) => {
                if recurrence.is_some_and(|r| r != this) {
                    return Err(StripeError::invalid(
                        "All recurring prices in a subscription must share one billing interval.",
                    )
                    .with_param(&param(i)));
                }
                recurrence = Some(this);
            }
            (Mode::Payment, None) => {}
        }
    }
    Ok(())
}

/// A line item of a session: its price (as it was), quantity and amounts.
pub(crate) fn line_item(id: &str, price: &Value, product_name: &str, quantity: i64) -> Value {
    let amount = int(price, "unit_amount").unwrap_or(0) * quantity;
    json!({
        "id": id,
        "object": "item",
        "adjustable_quantity": null,
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price["currency"],
        "description": product_name,
        "metadata": {},
        "price": price,
        "quantity": quantity,
    })
}

/// The id of a new session: Stripe marks the mode in it.
pub(crate) fn session_id(livemode: bool, random: &str) -> String {
    format!("cs_{}_{random}", if livemode { "live" } else { "test" })
}

/// A new open session selling `items` (built by [`line_item`]), payable at `pay_url`.
pub(crate) fn build(
    id: &str,
    new: &NewSession,
    items: Vec<Value>,
    pay_url: &str,
    stamp: Stamp,
) -> Value {
    let total: i64 = items.iter().filter_map(|i| int(i, "amount_total")).sum();
    let currency = items.first().map_or(Value::Null, |i| i["currency"].clone());
    let (customer_creation, payment_method_collection, invoice_creation) = match new.mode {
        _ if new.customer.is_some() => (Value::Null, Value::Null, Value::Null),
        Mode::Payment => (
            json!("if_required"),
            Value::Null,
            json!({"enabled": false, "invoice_data": {"account_tax_ids": null, "custom_fields": null,
                "description": null, "footer": null, "issuer": null, "metadata": {}, "rendering_options": null}}),
        ),
        Mode::Subscription => (json!("always"), json!("always"), Value::Null),
    };
    let private = json!({
        "subscription_metadata": MetadataPatch::fresh(new.subscription_metadata.as_ref()),
        "trial_period_days": new.trial_period_days,
        "payment_intent_metadata": MetadataPatch::fresh(new.payment_intent_metadata.as_ref()),
    });
    json!({
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": null,
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "billing_address_collection": null,
        "cancel_url": new.cancel_url,
        "client_reference_id": new.client_reference_id,
        "client_secret": null,
        "collected_information": null,
        "consent": null,
        "consent_collection": null,
        "created": stamp.now,
        "currency": currency,
        "currency_conversion": null,
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null,
            "terms_of_service_acceptance": null},
        "customer": new.customer,
        "customer_account": null,
        "customer_creation": customer_creation,
        "customer_details": null,
        "customer_email": new.customer_email,
        "discounts": [],
        "expires_at": new.expires_at,
        "integration_identifier": null,
        "invoice": null,
        "invoice_creation": invoice_creation,
        "livemode": stamp.livemode,
        "locale": null,
        "managed_payments": null,
        "metadata": MetadataPatch::fresh(new.metadata.as_ref()),
        "mode": new.mode.as_str(),
        "origin_context": null,
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": payment_method_collection,
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": null,
        "phone_number_collection": {"enabled": false},
        "recovered_from": null,
        "saved_payment_method_options": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": new.success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": pay_url,
        "wallet_options": null,
        "line_items": super::list(&format!("/v1/checkout/sessions/{id}/line_items"), items, false),
        PRIVATE: private,
    })
}

/// The session as answered: without the private field, and with its line items only when
/// `with_line_items` (an `expand[]=line_items`).
pub(crate) fn public(session: &Value, with_line_items: bool) -> Value {
    let mut out = session.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove(PRIVATE);
        if !with_line_items {
            map.remove("line_items");
        }
    }
    out
}

/// The session's line items (a list object).
pub(crate) fn line_items(session: &Value) -> Vec<Value> {
    session
        .get("line_items")
        .and_then(|l| l.get("data"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// What the session keeps for the subscription it will start: its metadata and trial days.
pub(crate) fn subscription_data(session: &Value) -> (Map<String, Value>, Option<i64>) {
    let private = session.get(PRIVATE).cloned().unwrap_or(Value::Null);
    (
        object(&private, "subscription_metadata"),
        int(&private, "trial_period_days"),
    )
}

/// The metadata for the payment intent of a payment-mode session.
pub(crate) fn payment_intent_metadata(session: &Value) -> Map<String, Value> {
    let private = session.get(PRIVATE).cloned().unwrap_or(Value::Null);
    object(&private, "payment_intent_metadata")
}

/// Whether the session is open.
pub(crate) fn is_open(session: &Value) -> bool {
    text(session, "status") == Some("open")
}

/// Whether an open session's time is up at `now` (it expires on the next read).
pub(crate) fn is_past_expiry(session: &Value, now: i64) -> bool {
    is_open(session) && int(session, "expires_at").is_some_and(|at| now >= at)
}

/// The session expired: no longer payable, its URL gone.
pub(crate) fn expire(session: &Value) -> Value {
    let mut out = session.clone();
    set(&mut out, "status", json!("expired"));
    set(&mut out, "url", Value::Null);
    out
}

/// What paying a session produced.
#[derive(Debug)]
pub(crate) struct Payment<'a> {
    pub(crate) customer: &'a str,
    pub(crate) email: Option<&'a str>,
    pub(crate) subscription: Option<&'a str>,
    pub(crate) invoice: Option<&'a str>,
    pub(crate) payment_intent: Option<&'a str>,
    /// A free trial or a zero total: nothing was charged now.
    pub(crate) nothing_due: bool,
    /// Paid with a delayed method: complete, but `unpaid` until it settles.
    pub(crate) pending: bool,
}

/// The session completed by `payment`.
pub(crate) fn complete(session: &Value, payment: &Payment<'_>) -> Value {
    let mut out = session.clone();
    set(&mut out, "status", json!("complete"));
    set(&mut out, "url", Value::Null);
    set(
        &mut out,
        "payment_status",
        json!(if payment.nothing_due {
            "no_payment_required"
        } else if payment.pending {
            "unpaid"
        } else {
            "paid"
        }),
    );
    set(&mut out, "customer", json!(payment.customer));
    set(
        &mut out,
        "customer_details",
        json!({"address": null, "business_name": null, "email": payment.email, "individual_name": null,
            "name": null, "phone": null, "tax_exempt": "none", "tax_ids": []}),
    );
    set(&mut out, "subscription", json!(payment.subscription));
    set(&mut out, "invoice", json!(payment.invoice));
    set(&mut out, "payment_intent", json!(payment.payment_intent));
    out
}

/// Whether the session completed with a delayed payment that has not settled yet.
pub(crate) fn awaits_payment(session: &Value) -> bool {
    text(session, "status") == Some("complete")
        && text(session, "payment_status") == Some("unpaid")
        && session[PRIVATE].get("payment_failed").is_none()
}

/// The session once its delayed payment settled: `paid`, or still `unpaid` and marked
/// failed (so it cannot settle twice).
pub(crate) fn settled(session: &Value, succeeded: bool) -> Value {
    let mut out = session.clone();
    if succeeded {
        set(&mut out, "payment_status", json!("paid"));
    } else if let Some(private) = out.get_mut(PRIVATE).and_then(Value::as_object_mut) {
        private.insert("payment_failed".into(), json!(true));
    }
    out
}

/// A payment intent paid with a delayed method: `processing`, nothing received yet.
pub(crate) fn processing(intent: &Value) -> Value {
    let mut out = intent.clone();
    set(&mut out, "status", json!("processing"));
    set(&mut out, "amount_received", json!(0));
    set(&mut out, "payment_method_types", json!(["sepa_debit"]));
    out
}

/// A processing payment intent once its payment settled: `succeeded` with the amount
/// received, or back to `requires_payment_method` with the failure.
pub(crate) fn settle_intent(intent: &Value, succeeded: bool) -> Value {
    let mut out = intent.clone();
    if succeeded {
        set(&mut out, "status", json!("succeeded"));
        set(&mut out, "amount_received", intent["amount"].clone());
    } else {
        set(&mut out, "status", json!("requires_payment_method"));
        set(
            &mut out,
            "last_payment_error",
            json!({"code": "insufficient_funds", "decline_code": null, "doc_url": null,
                "message": "The account has insufficient funds to cover this payment.",
                "payment_method": null, "type": "card_error"}),
        );
    }
    out
}

/// The payment intent that paid a payment-mode session (already succeeded).
pub(crate) fn payment_intent(
    id: &str,
    client_secret: &str,
    session: &Value,
    customer: &str,
    stamp: Stamp,
) -> Value {
    super::charges::payment_intent(
        &super::charges::NewIntent {
            id,
            client_secret,
            amount: int(session, "amount_total").unwrap_or(0),
            currency: &session["currency"],
            customer,
            description: None,
            metadata: payment_intent_metadata(session),
        },
        stamp,
    )
}

/// Where a paid session sends the buyer: `success_url` with the session id in place of
/// `{CHECKOUT_SESSION_ID}`.
pub(crate) fn success_redirect(session: &Value) -> Option<String> {
    let id = text(session, "id")?;
    text(session, "success_url").map(|url| url.replace(SESSION_ID_TEMPLATE, id))
}

/// The filters of `GET /v1/checkout/sessions`.
///
/// # Errors
/// Unknown or malformed parameters.
pub(crate) fn filters(p: &mut Params) -> Result<Vec<Filter>, StripeError> {
    let mut out = super::id_filters(
        p,
        &[
            ("customer", "$.customer"),
            ("subscription", "$.subscription"),
            ("payment_intent", "$.payment_intent"),
        ],
    )?;
    if let Some(status) = p.one_of("status", &["open", "complete", "expired"])? {
        out.push(Filter::Eq("$.status", json!(status)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const STAMP: Stamp = Stamp {
        now: NOW,
        livemode: false,
    };

    fn params(value: Value) -> Params {
        Params::of(value)
    }

    fn parsed(value: Value) -> Result<NewSession, StripeError> {
        let mut p = params(value);
        let new = parse_create(&mut p, NOW)?;
        p.finish()?;
        Ok(new)
    }

    fn price(id: &str, amount: i64, recurring: Option<&str>, active: bool) -> Value {
        json!({"id": id, "object": "price", "active": active, "currency": "usd", "unit_amount": amount,
            "type": if recurring.is_some() { "recurring" } else { "one_time" },
            "recurring": recurring.map(|i| json!({"interval": i, "interval_count": 1}))})
    }

    fn subscription_session() -> Value {
        let new = parsed(json!({"mode": "subscription", "line_items": [{"price": "price_m", "quantity": "2"}],
            "success_url": "https://app.test/ok?session={CHECKOUT_SESSION_ID}", "cancel_url": "https://app.test/no",
            "customer_email": "ann@example.test", "client_reference_id": "user-1", "metadata": {"order": "o1"},
            "subscription_data": {"metadata": {"tier": "pro"}, "trial_period_days": "7"}}))
        .unwrap();
        let items = vec![line_item(
            "li_1",
            &price("price_m", 1900, Some("month"), true),
            "Pro",
            2,
        )];
        build(
            "cs_test_1",
            &new,
            items,
            "http://127.0.0.1:1/pay/cs_test_1",
            STAMP,
        )
    }

    #[test]
    fn a_new_session_is_open_unpaid_and_totals_its_lines() {
        let session = subscription_session();

        assert_eq!(session["status"], "open");
        assert_eq!(session["payment_status"], "unpaid");
        assert_eq!(session["amount_subtotal"], 3800);
        assert_eq!(session["amount_total"], 3800);
        assert_eq!(session["currency"], "usd");
        assert_eq!(session["expires_at"], NOW + 24 * 3600);
        assert_eq!(session["url"], "http://127.0.0.1:1/pay/cs_test_1");
        assert_eq!(session["metadata"], json!({"order": "o1"}));
        assert_eq!(session["client_reference_id"], "user-1");
    }

    #[test]
    fn answers_hide_the_private_field_and_show_line_items_only_when_expanded() {
        let session = subscription_session();

        let plain = public(&session, false);
        let expanded = public(&session, true);

        assert!(plain.get(PRIVATE).is_none());
        assert!(plain.get("line_items").is_none());
        assert_eq!(expanded["line_items"]["data"][0]["quantity"], 2);
        assert_eq!(subscription_data(&session).1, Some(7));
        assert_eq!(
            Value::Object(subscription_data(&session).0),
            json!({"tier": "pro"})
        );
    }

    #[test]
    fn invalid_sessions_are_refused_with_the_parameter_named() {
        let line = json!([{"price": "price_1", "quantity": "1"}]);
        let cases = [
            (json!({"line_items": line}), Some("mode")),
            (json!({"mode": "payment"}), Some("line_items")),
            (json!({"mode": "setup", "line_items": line}), Some("mode")),
            (
                json!({"mode": "payment", "line_items": [{"quantity": "1"}]}),
                Some("line_items[0][price]"),
            ),
            (
                json!({"mode": "payment", "line_items": [{"price": "p"}]}),
                Some("line_items[0][quantity]"),
            ),
            (
                json!({"mode": "payment", "line_items": [{"price": "p", "quantity": "0"}]}),
                Some("line_items[0][quantity]"),
            ),
            (
                json!({"mode": "payment", "line_items": line, "customer": "cus_1", "customer_email": "a@b.test"}),
                None,
            ),
            (
                json!({"mode": "payment", "line_items": line, "customer_email": "nope"}),
                Some("customer_email"),
            ),
            (
                json!({"mode": "payment", "line_items": line, "success_url": "/relative"}),
                Some("success_url"),
            ),
            (
                json!({"mode": "payment", "line_items": line, "subscription_data": {"trial_period_days": "3"}}),
                Some("subscription_data"),
            ),
            (
                json!({"mode": "subscription", "line_items": line, "payment_intent_data": {"metadata": {"a": "b"}}}),
                Some("payment_intent_data"),
            ),
            (
                json!({"mode": "subscription", "line_items": line, "subscription_data": {"trial_period_days": "0"}}),
                Some("subscription_data[trial_period_days]"),
            ),
            (
                json!({"mode": "payment", "line_items": line, "expires_at": (NOW + 29 * 60).to_string()}),
                Some("expires_at"),
            ),
            (
                json!({"mode": "payment", "line_items": line, "expires_at": (NOW + 24 * 3600 + 1).to_string()}),
                Some("expires_at"),
            ),
            (
                json!({"mode": "payment", "line_items": line, "client_reference_id": "x".repeat(201)}),
                Some("client_reference_id"),
            ),
            (
                json!({"mode": "payment", "line_items": line, "subscription_data": {"bogus": "1"}}),
                Some("subscription_data[bogus]"),
            ),
        ];
        for (input, param) in cases {
            let error = parsed(input.clone()).unwrap_err();
            assert_eq!(error.param.as_deref(), param, "{input}: {}", error.message);
        }
    }

    #[test]
    fn expiry_may_be_set_between_thirty_minutes_and_a_day_ahead() {
        let line = json!([{"price": "price_1", "quantity": "1"}]);

        let soon = parsed(
            json!({"mode": "payment", "line_items": line, "expires_at": (NOW + 1800).to_string()}),
        )
        .unwrap();

        assert_eq!(soon.expires_at, NOW + 1800);
    }

    #[test]
    fn prices_must_suit_the_mode_be_active_and_share_currency_and_interval() {
        let monthly = price("m", 100, Some("month"), true);
        let yearly = price("y", 100, Some("year"), true);
        let once = price("o", 100, None, true);
        let archived = price("a", 100, None, false);
        let mut euro = price("e", 100, None, true);
        euro["currency"] = json!("eur");

        assert!(check_prices(Mode::Subscription, std::slice::from_ref(&monthly)).is_ok());
        assert!(check_prices(Mode::Payment, &[once.clone(), once.clone()]).is_ok());
        let refusals = [
            (
                Mode::Subscription,
                vec![once.clone()],
                "line_items[0][price]",
            ),
            (
                Mode::Payment,
                vec![once.clone(), monthly.clone()],
                "line_items[1][price]",
            ),
            (Mode::Payment, vec![archived], "line_items[0][price]"),
            (Mode::Payment, vec![once, euro], "line_items[1][price]"),
            (
                Mode::Subscription,
                vec![monthly, yearly],
                "line_items[1][price]",
            ),
        ];
        for (mode, prices, param) in refusals {
            let error = check_prices(mode, &prices).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{}", error.message);
        }
    }

    #[test]
    fn an_open_session_expires_once_its_time_is_up_and_loses_its_url() {
        let session = subscription_session();

        assert!(!is_past_expiry(&session, NOW + 24 * 3600 - 1));
        assert!(is_past_expiry(&session, NOW + 24 * 3600));
        let expired = expire(&session);
        assert_eq!(expired["status"], "expired");
        assert_eq!(expired["url"], Value::Null);
        assert!(!is_past_expiry(&expired, NOW + 48 * 3600));
    }

    #[test]
    fn completing_records_the_customer_the_subscription_and_the_payment_state() {
        let session = subscription_session();

        let paid = complete(
            &session,
            &Payment {
                customer: "cus_1",
                email: Some("ann@example.test"),
                subscription: Some("sub_1"),
                invoice: Some("in_1"),
                payment_intent: None,
                nothing_due: false,
                pending: false,
            },
        );
        let trial = complete(
            &session,
            &Payment {
                customer: "cus_1",
                email: None,
                subscription: Some("sub_1"),
                invoice: Some("in_1"),
                payment_intent: None,
                nothing_due: true,
                pending: false,
            },
        );

        assert_eq!(paid["status"], "complete");
        assert_eq!(paid["payment_status"], "paid");
        assert_eq!(paid["customer"], "cus_1");
        assert_eq!(paid["subscription"], "sub_1");
        assert_eq!(paid["customer_details"]["email"], "ann@example.test");
        assert_eq!(paid["url"], Value::Null);
        assert_eq!(trial["payment_status"], "no_payment_required");
    }

    #[test]
    fn a_payment_intent_carries_the_session_total_and_its_metadata() {
        let new = parsed(
            json!({"mode": "payment", "line_items": [{"price": "price_o", "quantity": "3"}],
            "payment_intent_data": {"metadata": {"order": "o9"}}}),
        )
        .unwrap();
        let items = vec![line_item(
            "li_1",
            &price("price_o", 500, None, true),
            "Sticker",
            3,
        )];
        let session = build(
            "cs_test_2",
            &new,
            items,
            "http://x.test/pay/cs_test_2",
            STAMP,
        );

        let intent = payment_intent("pi_1", "pi_1_secret_x", &session, "cus_1", STAMP);

        assert_eq!(intent["amount"], 1500);
        assert_eq!(intent["status"], "succeeded");
        assert_eq!(intent["metadata"], json!({"order": "o9"}));
        assert_eq!(intent["customer"], "cus_1");
    }

    #[test]
    fn the_success_url_receives_the_session_id() {
        assert_eq!(
            success_redirect(&subscription_session()).as_deref(),
            Some("https://app.test/ok?session=cs_test_1")
        );
    }

    #[test]
    fn session_ids_carry_the_mode() {
        assert_eq!(session_id(false, "abc"), "cs_test_abc");
        assert_eq!(session_id(true, "abc"), "cs_live_abc");
    }
}
