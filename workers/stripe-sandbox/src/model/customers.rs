//! Customers: the parameters they take (email, name, description, phone, metadata), the
//! object in the pinned API version's shape, updates and list filters.

use super::error::StripeError;
use super::params::{MetadataPatch, Params};
use super::{Filter, Stamp, is_email, object};
use serde_json::{Value, json};

/// What a customer is created or updated with.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CustomerFields {
    email: Option<Option<String>>,
    name: Option<Option<String>>,
    description: Option<Option<String>>,
    phone: Option<Option<String>>,
    metadata: Option<MetadataPatch>,
}

/// Reads the fields of a create or update.
///
/// # Errors
/// Unknown parameters, and an email that is not an email address.
pub(crate) fn parse(p: &mut Params) -> Result<CustomerFields, StripeError> {
    let email = p.nullable_string("email")?;
    if let Some(Some(address)) = &email
        && !is_email(address)
    {
        return Err(StripeError::invalid_value(
            "email",
            "email_invalid",
            format!("Invalid email address: {address}"),
        ));
    }
    let fields = CustomerFields {
        email,
        name: p.nullable_string("name")?,
        description: p.nullable_string("description")?,
        phone: p.nullable_string("phone")?,
        metadata: p.metadata("metadata")?,
    };
    Ok(fields)
}

/// The fields of a customer that checkout creates: only an email, if the buyer gave one.
pub(crate) fn with_email(email: Option<&str>) -> CustomerFields {
    CustomerFields {
        email: Some(email.map(str::to_owned)),
        ..CustomerFields::default()
    }
}

/// A letter-and-digit prefix for the customer's invoice numbers, taken from its id.
fn invoice_prefix(id: &str) -> String {
    id.trim_start_matches("cus_")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase()
}

/// A new customer.
pub(crate) fn build(id: &str, fields: CustomerFields, stamp: Stamp) -> Value {
    let flat = |f: Option<Option<String>>| f.flatten();
    json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": stamp.now,
        "currency": null,
        "customer_account": null,
        "default_source": null,
        "delinquent": false,
        "description": flat(fields.description),
        "discount": null,
        "email": flat(fields.email),
        "invoice_prefix": invoice_prefix(id),
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null,
        },
        "livemode": stamp.livemode,
        "metadata": MetadataPatch::fresh(fields.metadata.as_ref()),
        "name": flat(fields.name),
        "next_invoice_sequence": 1,
        "phone": flat(fields.phone),
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null,
    })
}

/// `existing` with an update applied.
pub(crate) fn update(existing: &Value, fields: CustomerFields) -> Value {
    let mut out = existing.clone();
    for (field, change) in [
        ("email", fields.email),
        ("name", fields.name),
        ("description", fields.description),
        ("phone", fields.phone),
    ] {
        if let Some(value) = change {
            super::set(&mut out, field, json!(value));
        }
    }
    if let Some(patch) = fields.metadata {
        let merged = patch.apply(&object(existing, "metadata"));
        super::set(&mut out, "metadata", Value::Object(merged));
    }
    out
}

/// The filters of `GET /v1/customers` (`email`, exact as Stripe matches it).
///
/// # Errors
/// Unknown or malformed parameters.
pub(crate) fn filters(p: &mut Params) -> Result<Vec<Filter>, StripeError> {
    Ok(p.string("email")?
        .filter(|e| !e.is_empty())
        .map(|email| Filter::Eq("$.email", json!(email)))
        .into_iter()
        .collect())
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

    #[test]
    fn a_new_customer_carries_what_it_was_created_with() {
        let mut p =
            params(json!({"email": "ann@example.test", "name": "Ann", "metadata": {"user": "u1"}}));
        let fields = parse(&mut p).unwrap();
        p.finish().unwrap();

        let customer = build("cus_abc123", fields, STAMP);

        assert_eq!(customer["object"], "customer");
        assert_eq!(customer["email"], "ann@example.test");
        assert_eq!(customer["name"], "Ann");
        assert_eq!(customer["metadata"], json!({"user": "u1"}));
        assert_eq!(customer["created"], 1_800_000_000);
        assert_eq!(customer["livemode"], false);
        assert_eq!(customer["invoice_prefix"], "ABC123");
    }

    #[test]
    fn an_update_changes_only_what_was_sent_and_empty_values_unset() {
        let mut p = params(
            json!({"email": "ann@example.test", "name": "Ann", "metadata": {"a": "1", "b": "2"}}),
        );
        let customer = build("cus_1", parse(&mut p).unwrap(), STAMP);
        let mut change = params(json!({"name": "", "metadata": {"a": ""}}));

        let updated = update(&customer, parse(&mut change).unwrap());

        assert_eq!(updated["name"], Value::Null);
        assert_eq!(updated["email"], "ann@example.test");
        assert_eq!(updated["metadata"], json!({"b": "2"}));
    }

    #[test]
    fn an_invalid_email_is_refused() {
        let mut p = params(json!({"email": "not-an-email"}));

        let error = parse(&mut p).unwrap_err();

        assert_eq!(error.param.as_deref(), Some("email"));
        assert_eq!(error.code.as_deref(), Some("email_invalid"));
    }

    #[test]
    fn the_email_filter_matches_exactly() {
        let mut p = params(json!({"email": "ann@example.test"}));

        assert_eq!(
            filters(&mut p).unwrap(),
            vec![Filter::Eq("$.email", json!("ann@example.test"))]
        );
        assert!(filters(&mut params(json!({}))).unwrap().is_empty());
    }
}
