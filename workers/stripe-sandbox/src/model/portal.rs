//! Billing portal sessions: a link at which a customer manages their subscriptions, then
//! returns to the platform's `return_url`.

use super::error::StripeError;
use super::params::Params;
use super::{Stamp, is_http_url};
use serde_json::{Value, json};

/// The one portal configuration the sandbox has.
pub(crate) const CONFIGURATION: &str = "bpc_1TollgateSandboxDefault";

/// A validated new portal session; the customer's existence is checked by the caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NewPortalSession {
    pub(crate) customer: String,
    return_url: Option<String>,
}

/// Reads `POST /v1/billing_portal/sessions`.
///
/// # Errors
/// Unknown or missing parameters and a `return_url` that is not http(s).
pub(crate) fn parse_create(p: &mut Params) -> Result<NewPortalSession, StripeError> {
    let customer = p.required_string("customer")?;
    let return_url = p.string("return_url")?.filter(|u| !u.is_empty());
    if return_url.as_deref().is_some_and(|u| !is_http_url(u)) {
        return Err(StripeError::invalid_value(
            "return_url",
            "url_invalid",
            "Not a valid URL: return_url",
        ));
    }
    Ok(NewPortalSession {
        customer,
        return_url,
    })
}

/// A new portal session, open at `url`.
pub(crate) fn build(id: &str, new: &NewPortalSession, url: &str, stamp: Stamp) -> Value {
    json!({
        "id": id,
        "object": "billing_portal.session",
        "configuration": CONFIGURATION,
        "created": stamp.now,
        "customer": new.customer,
        "customer_account": null,
        "flow": null,
        "livemode": stamp.livemode,
        "locale": null,
        "on_behalf_of": null,
        "return_url": new.return_url,
        "url": url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> Params {
        Params::of(value)
    }

    #[test]
    fn a_portal_session_names_its_customer_and_where_to_return() {
        let new = parse_create(&mut params(
            json!({"customer": "cus_1", "return_url": "https://app.test/account"}),
        ))
        .unwrap();

        let session = build(
            "bps_1",
            &new,
            "http://127.0.0.1:1/portal/bps_1",
            Stamp {
                now: 3,
                livemode: true,
            },
        );

        assert_eq!(session["object"], "billing_portal.session");
        assert_eq!(session["customer"], "cus_1");
        assert_eq!(session["return_url"], "https://app.test/account");
        assert_eq!(session["url"], "http://127.0.0.1:1/portal/bps_1");
        assert_eq!(session["livemode"], true);
    }

    #[test]
    fn a_portal_session_needs_a_customer_and_an_http_return_url() {
        assert_eq!(
            parse_create(&mut params(json!({})))
                .unwrap_err()
                .param
                .as_deref(),
            Some("customer")
        );
        assert_eq!(
            parse_create(&mut params(
                json!({"customer": "cus_1", "return_url": "app"})
            ))
            .unwrap_err()
            .param
            .as_deref(),
            Some("return_url")
        );
    }
}
