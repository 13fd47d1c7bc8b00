//! Every Stripe call Tollgate makes, as data: verb, host, path, form, connected account and
//! idempotency key, plus the type its answer parses into.
//!
//! Every POST carries an idempotency key derived from our own operation (the record it
//! serves and the step), so a retry after a timeout, a crash or a client's own retry reaches
//! Stripe as the same request and can never create a second product, price or session.

use super::error::ProviderError;
use super::events::Event;
use super::form::Form;
use super::objects::{Deauthorized, OAuthToken, Price, Product, Subscription};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// The HTTP verbs Stripe's API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpVerb {
    /// Reads.
    Get,
    /// Creates and updates.
    Post,
    /// Deletes and cancels.
    Delete,
}

impl HttpVerb {
    /// The method name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }
}

/// Which Stripe origin serves the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// The REST API (`api.stripe.com` in production).
    Api,
    /// Connect OAuth (`connect.stripe.com` in production).
    Connect,
}

/// One call and the type of its answer.
#[derive(Debug)]
pub struct Call<T> {
    /// The verb.
    pub verb: HttpVerb,
    /// Which origin.
    pub host: Host,
    /// The path, starting with `/`.
    pub path: String,
    /// The body (POST) or query (GET).
    pub form: Form,
    /// `Stripe-Account`: the connected account acted on, `None` for the platform's own.
    pub account: Option<String>,
    /// `Idempotency-Key`, on every POST.
    pub idempotency_key: Option<String>,
    answer: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Call<T> {
    fn new(
        verb: HttpVerb,
        path: String,
        form: Form,
        account: Option<&str>,
        key: Option<String>,
    ) -> Self {
        Self {
            verb,
            host: Host::Api,
            path,
            form,
            account: account.map(str::to_owned),
            idempotency_key: key,
            answer: PhantomData,
        }
    }

    /// A read.
    #[must_use]
    pub fn get(path: impl Into<String>, form: Form, account: Option<&str>) -> Self {
        Self::new(HttpVerb::Get, path.into(), form, account, None)
    }

    /// A write, idempotent under `operation`.
    #[must_use]
    pub fn post(
        path: impl Into<String>,
        form: Form,
        account: Option<&str>,
        operation: &Operation,
    ) -> Self {
        Self::new(
            HttpVerb::Post,
            path.into(),
            form,
            account,
            Some(operation.key()),
        )
    }

    /// Whether sending it twice is harmless: reads, and writes carrying an idempotency key.
    #[must_use]
    pub fn safe_to_retry(&self) -> bool {
        self.verb == HttpVerb::Get || self.idempotency_key.is_some()
    }

    /// The path with the query string for reads.
    #[must_use]
    pub fn target(&self) -> String {
        if self.verb == HttpVerb::Post || self.form.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.form.encode())
        }
    }

    /// The encoded body for writes.
    #[must_use]
    pub fn body(&self) -> Option<String> {
        (self.verb == HttpVerb::Post).then(|| self.form.encode())
    }

    /// Reads Stripe's answer: 2xx parses into `T`, anything else into a [`ProviderError`].
    ///
    /// # Errors
    /// The mapped Stripe error, or an unreadable 2xx body.
    pub fn parse(&self, status: u16, body: &str) -> Result<T, ProviderError> {
        if (200..300).contains(&status) {
            serde_json::from_str(body).map_err(|e| {
                ProviderError::unreadable(
                    status,
                    format!("{} {}: {e}", self.verb.as_str(), self.path),
                )
            })
        } else {
            Err(ProviderError::from_response(status, body))
        }
    }
}

/// The operation an idempotent write belongs to: the record it serves and the step, e.g.
/// `["tier", "tier_abc", "price", "1700000000000"]`. Stripe keeps keys for at least 24 h.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation(Vec<String>);

impl Operation {
    /// An operation named by its parts.
    #[must_use]
    pub fn new<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(parts.into_iter().map(Into::into).collect())
    }

    /// The `Idempotency-Key`: readable when short, hashed when it would pass Stripe's 255.
    #[must_use]
    pub fn key(&self) -> String {
        let joined = format!("tollgate:{}", self.0.join(":"));
        if joined.len() <= 255 {
            joined
        } else {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(joined.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("tollgate:sha256:{hex}")
        }
    }
}

/// A product on a connected account, with our references in its metadata.
#[must_use]
pub fn create_product(
    account: &str,
    operation: &Operation,
    name: &str,
    description: Option<&str>,
    metadata: &[(&str, &str)],
) -> Call<Product> {
    let form = Form::new()
        .field("name", name)
        .optional("description", description.filter(|d| !d.is_empty()))
        .map("metadata", metadata.iter().copied());
    Call::post("/v1/products", form, Some(account), operation)
}

/// Renames, re-describes, archives or revives a product.
#[must_use]
pub fn update_product(
    account: &str,
    product: &str,
    operation: &Operation,
    name: &str,
    description: Option<&str>,
    active: bool,
) -> Call<Product> {
    // Stripe clears a description sent empty; a missing one is left as it was.
    let form = Form::new()
        .field("name", name)
        .field("description", description.unwrap_or(""))
        .flag("active", active);
    Call::post(
        format!("/v1/products/{product}"),
        form,
        Some(account),
        operation,
    )
}

/// A price for a product: recurring with `interval`, one-time without.
#[must_use]
pub fn create_price(
    account: &str,
    operation: &Operation,
    product: &str,
    unit_amount: i64,
    currency: &str,
    interval: Option<&str>,
    metadata: &[(&str, &str)],
) -> Call<Price> {
    let form = Form::new()
        .field("product", product)
        .int("unit_amount", unit_amount)
        .field("currency", currency)
        .optional("recurring[interval]", interval)
        .map("metadata", metadata.iter().copied());
    Call::post("/v1/prices", form, Some(account), operation)
}

/// Stops a price from being used for new purchases (prices cannot be edited or deleted).
#[must_use]
pub fn archive_price(account: &str, price: &str, operation: &Operation) -> Call<Price> {
    Call::post(
        format!("/v1/prices/{price}"),
        Form::new().flag("active", false),
        Some(account),
        operation,
    )
}

/// Reads a subscription on a connected account or the platform (a completed Checkout event
/// names it only).
#[must_use]
pub fn retrieve_subscription(account: Option<&str>, subscription: &str) -> Call<Subscription> {
    Call::get(
        format!("/v1/subscriptions/{subscription}"),
        Form::new(),
        account,
    )
}

/// Reads an event again, as Stripe stored it, on a connected account or the platform.
#[must_use]
pub fn retrieve_event(account: Option<&str>, event: &str) -> Call<Event> {
    Call::get(format!("/v1/events/{event}"), Form::new(), account)
}

/// Exchanges a Connect authorization code for the connected account.
#[must_use]
pub fn oauth_token(code: &str, operation: &Operation) -> Call<OAuthToken> {
    let form = Form::new()
        .field("grant_type", "authorization_code")
        .field("code", code);
    Call {
        host: Host::Connect,
        ..Call::post("/oauth/token", form, None, operation)
    }
}

/// Disconnects a connected account from the platform.
#[must_use]
pub fn oauth_deauthorize(
    client_id: &str,
    account: &str,
    operation: &Operation,
) -> Call<Deauthorized> {
    let form = Form::new()
        .field("client_id", client_id)
        .field("stripe_user_id", account);
    Call {
        host: Host::Connect,
        ..Call::post("/oauth/deauthorize", form, None, operation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_carries_a_key_derived_from_its_operation() {
        let operation = Operation::new(["tier", "tier_1", "price", "7"]);
        let call = create_price(
            "acct_1",
            &operation,
            "prod_1",
            900,
            "usd",
            Some("month"),
            &[("tier_id", "tier_1")],
        );

        assert_eq!(
            call.idempotency_key.as_deref(),
            Some("tollgate:tier:tier_1:price:7")
        );
        assert_eq!(call.account.as_deref(), Some("acct_1"));
        assert!(call.safe_to_retry());
        assert_eq!(
            call.body().as_deref(),
            Some(
                "product=prod_1&unit_amount=900&currency=usd&recurring%5Binterval%5D=month&metadata%5Btier_id%5D=tier_1"
            )
        );
    }

    #[test]
    fn a_one_time_price_sends_no_recurrence() {
        let call = create_price(
            "acct_1",
            &Operation::new(["p"]),
            "prod_1",
            500,
            "eur",
            None,
            &[],
        );
        assert!(!call.body().unwrap_or_default().contains("recurring"));
    }

    #[test]
    fn an_overlong_operation_is_hashed_to_a_key_stripe_accepts() {
        let long = Operation::new(vec!["x".repeat(300)]);
        let key = long.key();
        assert!(key.len() <= 255);
        assert!(key.starts_with("tollgate:sha256:"));
        assert_eq!(
            key,
            long.key(),
            "the same operation always gives the same key"
        );
    }

    #[test]
    fn reads_put_their_form_in_the_query_and_have_no_body() {
        let call: Call<Product> =
            Call::get("/v1/products", Form::new().int("limit", 3), Some("acct_1"));
        assert_eq!(call.target(), "/v1/products?limit=3");
        assert_eq!(call.body(), None);
        assert!(call.safe_to_retry());
    }

    #[test]
    fn oauth_calls_go_to_the_connect_host() {
        let call = oauth_token("ac_123", &Operation::new(["connect", "state"]));
        assert_eq!(call.host, Host::Connect);
        assert_eq!(call.account, None);
        assert_eq!(
            call.body().as_deref(),
            Some("grant_type=authorization_code&code=ac_123")
        );
    }

    #[test]
    fn a_failed_answer_parses_into_a_provider_error_and_a_good_one_into_the_object() {
        let call = archive_price("acct_1", "price_1", &Operation::new(["a"]));
        assert!(
            call.parse(
                404,
                r#"{"error":{"type":"invalid_request_error","code":"resource_missing"}}"#
            )
            .is_err()
        );
        let price = call
            .parse(200, r#"{"id":"price_1","product":"prod_1","unit_amount":1,"currency":"usd","active":false,"recurring":null}"#)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(!price.active);
    }
}
