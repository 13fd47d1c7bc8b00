//! Prices: one-time or recurring (monthly or yearly) per-unit prices of a product, the legacy
//! plan view of a recurring price that subscription items still carry, updates (only
//! `active`, `metadata` and `nickname`: an amount never changes) and list filters.

use super::error::StripeError;
use super::params::{MetadataPatch, Params};
use super::period::Interval;
use super::{Filter, Stamp, int, object, text};
use serde_json::{Value, json};

/// Stripe's largest unit amount (eight digits).
const MAX_UNIT_AMOUNT: i64 = 99_999_999;

/// A validated new price; the product's existence is checked by the caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NewPrice {
    pub(crate) product: String,
    currency: String,
    unit_amount: i64,
    recurring: Option<(Interval, i64)>,
    nickname: Option<String>,
    metadata: Option<MetadataPatch>,
    active: bool,
}

fn interval_name(interval: Interval) -> &'static str {
    match interval {
        Interval::Month => "month",
        Interval::Year => "year",
    }
}

fn parse_recurring(p: &mut Params) -> Result<(Interval, i64), StripeError> {
    let name = p.name("interval");
    let interval = match p.one_of("interval", &["month", "year"])? {
        Some(text) => Interval::parse(text).ok_or_else(|| StripeError::missing_parameter(&name))?,
        None => return Err(StripeError::missing_parameter(&name)),
    };
    let count_name = p.name("interval_count");
    let count = p.integer("interval_count")?.unwrap_or(1);
    // Stripe bills at most once a year.
    if count < 1 || count * interval.months() > 12 {
        return Err(StripeError::invalid_value(
            &count_name,
            "parameter_invalid_integer",
            "Invalid recurring[interval_count]: the maximum billing period is one year (1 year or 12 months).",
        ));
    }
    Ok((interval, count))
}

/// Reads `POST /v1/prices`.
///
/// # Errors
/// Unknown or missing parameters, a currency that is not three letters, an amount outside
/// 0–99,999,999, and intervals other than month or year.
pub(crate) fn parse_create(p: &mut Params) -> Result<NewPrice, StripeError> {
    let product = p.required_string("product")?;
    let currency = p.required_string("currency")?.to_ascii_lowercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(StripeError::invalid_value(
            "currency",
            "parameter_invalid_string",
            format!("Invalid currency: {currency}. Stripe currencies are three-letter ISO codes."),
        ));
    }
    let unit_amount = p
        .integer("unit_amount")?
        .ok_or_else(|| StripeError::missing_parameter("unit_amount"))?;
    if !(0..=MAX_UNIT_AMOUNT).contains(&unit_amount) {
        return Err(StripeError::invalid_value(
            "unit_amount",
            "parameter_invalid_integer",
            "Invalid unit_amount: must be between 0 and 99999999",
        ));
    }
    Ok(NewPrice {
        product,
        currency,
        unit_amount,
        recurring: p.object("recurring", parse_recurring)?,
        nickname: p.string("nickname")?.filter(|n| !n.is_empty()),
        metadata: p.metadata("metadata")?,
        active: p.boolean("active")?.unwrap_or(true),
    })
}

/// A new price.
pub(crate) fn build(id: &str, new: &NewPrice, stamp: Stamp) -> Value {
    let recurring = new.recurring.map(|(interval, count)| {
        json!({
            "interval": interval_name(interval),
            "interval_count": count,
            "meter": null,
            "trial_period_days": null,
            "usage_type": "licensed",
        })
    });
    json!({
        "id": id,
        "object": "price",
        "active": new.active,
        "billing_scheme": "per_unit",
        "created": stamp.now,
        "currency": new.currency,
        "custom_unit_amount": null,
        "livemode": stamp.livemode,
        "lookup_key": null,
        "metadata": MetadataPatch::fresh(new.metadata.as_ref()),
        "nickname": new.nickname,
        "product": new.product,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": if new.recurring.is_some() { "recurring" } else { "one_time" },
        "unit_amount": new.unit_amount,
        "unit_amount_decimal": new.unit_amount.to_string(),
    })
}

/// Reads and applies `POST /v1/prices/{id}`: `active`, `metadata` and `nickname`; anything
/// else (an amount, a currency) is an unknown parameter, as on Stripe.
///
/// # Errors
/// Unknown or malformed parameters.
pub(crate) fn update(existing: &Value, p: &mut Params) -> Result<Value, StripeError> {
    let mut out = existing.clone();
    if let Some(active) = p.boolean("active")? {
        super::set(&mut out, "active", json!(active));
    }
    if let Some(nickname) = p.nullable_string("nickname")? {
        super::set(&mut out, "nickname", json!(nickname));
    }
    if let Some(patch) = p.metadata("metadata")? {
        let merged = patch.apply(&object(existing, "metadata"));
        super::set(&mut out, "metadata", Value::Object(merged));
    }
    Ok(out)
}

/// The filters of `GET /v1/prices` (`product`, `active`, `type`, `currency`).
///
/// # Errors
/// Unknown or malformed parameters.
pub(crate) fn filters(p: &mut Params) -> Result<Vec<Filter>, StripeError> {
    let mut out = Vec::new();
    if let Some(product) = p.string("product")?.filter(|s| !s.is_empty()) {
        out.push(Filter::Eq("$.product", json!(product)));
    }
    if let Some(active) = p.boolean("active")? {
        out.push(Filter::Eq("$.active", json!(active)));
    }
    if let Some(kind) = p.one_of("type", &["one_time", "recurring"])? {
        out.push(Filter::Eq("$.type", json!(kind)));
    }
    if let Some(currency) = p.string("currency")?.filter(|s| !s.is_empty()) {
        out.push(Filter::Eq(
            "$.currency",
            json!(currency.to_ascii_lowercase()),
        ));
    }
    Ok(out)
}

/// Whether a price bills repeatedly.
pub(crate) fn is_recurring(price: &Value) -> bool {
    text(price, "type") == Some("recurring")
}

/// A recurring price's interval and count.
pub(crate) fn recurrence(price: &Value) -> Option<(Interval, i64)> {
    let recurring = price.get("recurring")?;
    let interval = Interval::parse(text(recurring, "interval")?)?;
    Some((interval, int(recurring, "interval_count").unwrap_or(1)))
}

/// The legacy plan a subscription item shows beside its price.
pub(crate) fn plan(price: &Value) -> Value {
    let recurring = price.get("recurring").cloned().unwrap_or(Value::Null);
    json!({
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval").cloned().unwrap_or(Value::Null),
        "interval_count": recurring.get("interval_count").cloned().unwrap_or(Value::Null),
        "livemode": price["livemode"],
        "metadata": price["metadata"],
        "meter": null,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": "licensed",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        now: 1_800_000_000,
        livemode: false,
    };

    fn params(value: Value) -> Params {
        Params::of(value)
    }

    fn price(value: Value) -> Value {
        let mut p = params(value);
        let new = parse_create(&mut p).unwrap();
        p.finish().unwrap();
        build("price_1", &new, STAMP)
    }

    #[test]
    fn a_recurring_price_carries_its_interval_and_is_typed_recurring() {
        let monthly = price(
            json!({"product": "prod_1", "currency": "USD", "unit_amount": "1900",
            "recurring": {"interval": "month"}, "nickname": "Pro monthly"}),
        );

        assert_eq!(monthly["type"], "recurring");
        assert_eq!(monthly["currency"], "usd");
        assert_eq!(monthly["unit_amount_decimal"], "1900");
        assert_eq!(monthly["recurring"]["interval"], "month");
        assert_eq!(monthly["recurring"]["interval_count"], 1);
        assert_eq!(recurrence(&monthly), Some((Interval::Month, 1)));
        assert!(is_recurring(&monthly));
    }

    #[test]
    fn a_price_without_recurring_is_one_time() {
        let once = price(json!({"product": "prod_1", "currency": "eur", "unit_amount": "500"}));

        assert_eq!(once["type"], "one_time");
        assert_eq!(once["recurring"], Value::Null);
        assert_eq!(recurrence(&once), None);
    }

    #[test]
    fn invalid_prices_are_refused_with_the_parameter_named() {
        let cases = [
            (json!({"currency": "usd", "unit_amount": "1"}), "product"),
            (json!({"product": "p", "unit_amount": "1"}), "currency"),
            (json!({"product": "p", "currency": "usd"}), "unit_amount"),
            (
                json!({"product": "p", "currency": "usdd", "unit_amount": "1"}),
                "currency",
            ),
            (
                json!({"product": "p", "currency": "usd", "unit_amount": "-1"}),
                "unit_amount",
            ),
            (
                json!({"product": "p", "currency": "usd", "unit_amount": "100000000"}),
                "unit_amount",
            ),
            (
                json!({"product": "p", "currency": "usd", "unit_amount": "1", "recurring": {"interval": "week"}}),
                "recurring[interval]",
            ),
            (
                json!({"product": "p", "currency": "usd", "unit_amount": "1", "recurring": {"interval_count": "2"}}),
                "recurring[interval]",
            ),
            (
                json!({"product": "p", "currency": "usd", "unit_amount": "1", "recurring": {"interval": "month", "interval_count": "13"}}),
                "recurring[interval_count]",
            ),
            (
                json!({"product": "p", "currency": "usd", "unit_amount": "1", "recurring": {"interval": "year", "interval_count": "2"}}),
                "recurring[interval_count]",
            ),
        ];
        for (input, param) in cases {
            let error = parse_create(&mut params(input.clone())).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{input}");
        }
    }

    #[test]
    fn an_update_may_change_active_metadata_and_nickname_but_never_the_amount() {
        let original =
            price(json!({"product": "prod_1", "currency": "usd", "unit_amount": "1900"}));

        let mut change =
            params(json!({"active": "false", "nickname": "Old", "metadata": {"k": "v"}}));
        let updated = update(&original, &mut change).unwrap();
        change.finish().unwrap();
        let mut amount = params(json!({"unit_amount": "2900"}));
        update(&original, &mut amount).unwrap();

        assert_eq!(updated["active"], false);
        assert_eq!(updated["nickname"], "Old");
        assert_eq!(updated["metadata"], json!({"k": "v"}));
        assert_eq!(
            amount.finish().unwrap_err().message,
            "Received unknown parameter: unit_amount"
        );
    }

    #[test]
    fn the_plan_view_mirrors_the_price() {
        let yearly = price(
            json!({"product": "prod_1", "currency": "usd", "unit_amount": "19000", "recurring": {"interval": "year"}}),
        );

        let plan = plan(&yearly);

        assert_eq!(plan["object"], "plan");
        assert_eq!(plan["id"], "price_1");
        assert_eq!(plan["amount"], 19000);
        assert_eq!(plan["interval"], "year");
        assert_eq!(plan["product"], "prod_1");
    }

    #[test]
    fn list_filters_cover_product_active_type_and_currency() {
        let filters = filters(&mut params(
            json!({"product": "prod_1", "active": "true", "type": "recurring", "currency": "USD"}),
        ))
        .unwrap();

        assert_eq!(
            filters,
            vec![
                Filter::Eq("$.product", json!("prod_1")),
                Filter::Eq("$.active", json!(true)),
                Filter::Eq("$.type", json!("recurring")),
                Filter::Eq("$.currency", json!("usd")),
            ]
        );
    }
}
