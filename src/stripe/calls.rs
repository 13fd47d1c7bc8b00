//! Every Stripe call Tollgate makes, as data: verb, host, path, form, connected account and
//! idempotency key, plus the type its answer parses into.
//!
//! Every POST carries an idempotency key derived from our own operation (the record it
//! serves and the step), so a retry after a timeout, a crash or a client's own retry reaches
//! Stripe as the same request and can never create a second product, price or session.

use super::error::ProviderError;
use super::events::Event;
use super::form::Form;
use super::objects::{
    Charge, CheckoutSession, Customer, Deauthorized, OAuthToken, PortalSession, Price, Product,
    Subscription,
};
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
    account: Option<&str>,
    operation: &Operation,
    name: &str,
    description: Option<&str>,
    metadata: &[(&str, &str)],
) -> Call<Product> {
    let form = Form::new()
        .field("name", name)
        .optional("description", description.filter(|d| !d.is_empty()))
        .map("metadata", metadata.iter().copied());
    Call::post("/v1/products", form, account, operation)
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
    account: Option<&str>,
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
    Call::post("/v1/prices", form, account, operation)
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

/// Reads a charge on a connected account (a dispute event names its charge only).
#[must_use]
pub fn retrieve_charge(account: &str, charge: &str) -> Call<Charge> {
    Call::get(format!("/v1/charges/{charge}"), Form::new(), Some(account))
}

/// Sets or clears `cancel_at_period_end`, or moves the subscription's first item to another
/// price (a plan change), on a connected account.
///
/// An upgrade is invoiced at once and applies only when that invoice is paid: Stripe keeps
/// billing (and we keep granting) the old price, with the change in `pending_update`, until
/// then. A downgrade bills nothing now; the new price bills from the renewal, and the
/// subscription's metadata records the tier already paid for until then.
#[must_use]
pub fn update_subscription(
    account: &str,
    subscription: &str,
    operation: &Operation,
    change: &SubscriptionUpdate<'_>,
) -> Call<Subscription> {
    use super::events::metadata;
    let form = match change {
        SubscriptionUpdate::CancelAtPeriodEnd(on) => Form::new().flag("cancel_at_period_end", *on),
        SubscriptionUpdate::Price { item, price, when } => {
            let form = Form::new()
                .field("items[0][id]", *item)
                .field("items[0][price]", *price);
            match when {
                PriceChange::PaidFirst => form
                    .field("proration_behavior", "always_invoice")
                    .field("payment_behavior", "pending_if_incomplete"),
                PriceChange::AtRenewal { paid_tier, until } => {
                    let until = until.to_string();
                    form.field("proration_behavior", "none").map(
                        "metadata",
                        [
                            (metadata::PAID_TIER, *paid_tier),
                            (metadata::PAID_UNTIL, until.as_str()),
                            (metadata::SCHEDULED_PRICE, *price),
                        ],
                    )
                }
                // An empty value removes the key on Stripe.
                PriceChange::Revert => form.field("proration_behavior", "none").map(
                    "metadata",
                    [
                        (metadata::PAID_TIER, ""),
                        (metadata::PAID_UNTIL, ""),
                        (metadata::SCHEDULED_PRICE, ""),
                    ],
                ),
            }
        }
    };
    Call::post(
        format!("/v1/subscriptions/{subscription}"),
        form,
        Some(account),
        operation,
    )
}

/// What [`update_subscription`] changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionUpdate<'a> {
    /// End (true) or keep (false) the subscription at its period's end.
    CancelAtPeriodEnd(bool),
    /// Bill `item` at `price`, from when `when` says.
    Price {
        /// `si_…`
        item: &'a str,
        /// `price_…`
        price: &'a str,
        /// How the change is billed.
        when: PriceChange<'a>,
    },
}

/// When a plan change takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceChange<'a> {
    /// An upgrade: the proration is invoiced now (`always_invoice`) and the new price applies
    /// only once that invoice is paid (`pending_if_incomplete`).
    PaidFirst,
    /// A downgrade: nothing is billed now (`none`); `paid_tier` stays until `until` (Unix
    /// seconds, the period's end), when the lower price starts billing.
    AtRenewal {
        /// The tier in force, already paid for.
        paid_tier: &'a str,
        /// The paid period's end.
        until: i64,
    },
    /// Back to the tier in force during a scheduled downgrade: nothing to bill, and the
    /// schedule is cleared.
    Revert,
}

/// Ends a subscription on a connected account now.
#[must_use]
pub fn cancel_subscription(
    account: &str,
    subscription: &str,
    operation: &Operation,
) -> Call<Subscription> {
    Call::new(
        HttpVerb::Delete,
        format!("/v1/subscriptions/{subscription}"),
        Form::new(),
        Some(account),
        Some(operation.key()),
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

/// A customer on a connected account for one of the project's end users.
#[must_use]
pub fn create_customer(
    account: Option<&str>,
    operation: &Operation,
    email: Option<&str>,
    metadata: &[(&str, &str)],
) -> Call<Customer> {
    let form = Form::new()
        .optional("email", email)
        .map("metadata", metadata.iter().copied());
    Call::post("/v1/customers", form, account, operation)
}

/// What a Checkout session sells and where it sends the buyer.
#[derive(Clone, Debug)]
pub struct SessionSpec<'a> {
    /// `(price, quantity)` lines.
    pub lines: Vec<(&'a str, i64)>,
    /// After paying; `{CHECKOUT_SESSION_ID}` is filled in by Stripe.
    pub success_url: &'a str,
    /// After giving up.
    pub cancel_url: &'a str,
    /// The Stripe customer, when known.
    pub customer: Option<&'a str>,
    /// A guest's email, when no customer.
    pub customer_email: Option<&'a str>,
    /// Our end user, echoed back on the session.
    pub client_reference_id: Option<&'a str>,
    /// Our references, on the session and on what it creates.
    pub metadata: Vec<(&'a str, &'a str)>,
    /// Free days before the first charge (subscriptions).
    pub trial_days: Option<i64>,
    /// Unix seconds; Stripe allows 30 minutes to 24 hours ahead.
    pub expires_at: i64,
}

fn session_form(spec: &SessionSpec<'_>, mode: &str) -> Form {
    let form = Form::new()
        .field("mode", mode)
        .list_of_maps(
            "line_items",
            spec.lines.iter().map(|(price, quantity)| {
                vec![
                    ("price", (*price).to_owned()),
                    ("quantity", quantity.to_string()),
                ]
            }),
        )
        .field("success_url", spec.success_url)
        .field("cancel_url", spec.cancel_url)
        .optional("customer", spec.customer)
        .optional("customer_email", spec.customer_email)
        .optional("client_reference_id", spec.client_reference_id)
        .map("metadata", spec.metadata.iter().copied())
        .int("expires_at", spec.expires_at);
    let nested = if mode == "subscription" {
        "subscription_data[metadata]"
    } else {
        "payment_intent_data[metadata]"
    };
    let form = form.map(nested, spec.metadata.iter().copied());
    match spec.trial_days.filter(|d| *d > 0) {
        Some(days) if mode == "subscription" => {
            form.int("subscription_data[trial_period_days]", days)
        }
        _ => form,
    }
}

/// A subscription Checkout session on a connected account (`None`: the platform's own).
#[must_use]
pub fn create_subscription_session(
    account: Option<&str>,
    operation: &Operation,
    spec: &SessionSpec<'_>,
) -> Call<CheckoutSession> {
    Call::post(
        "/v1/checkout/sessions",
        session_form(spec, "subscription"),
        account,
        operation,
    )
}

/// A one-time payment Checkout session (a cart) on a connected account.
#[must_use]
pub fn create_payment_session(
    account: &str,
    operation: &Operation,
    spec: &SessionSpec<'_>,
) -> Call<CheckoutSession> {
    Call::post(
        "/v1/checkout/sessions",
        session_form(spec, "payment"),
        Some(account),
        operation,
    )
}

/// A Checkout session as Stripe knows it now.
#[must_use]
pub fn retrieve_checkout_session(account: &str, id: &str) -> Call<CheckoutSession> {
    Call::get(
        format!("/v1/checkout/sessions/{id}"),
        Form::new(),
        Some(account),
    )
}

/// The same session as Stripe's JSON, untyped: a reconcile applies it exactly as the
/// `checkout.session.completed` event carrying it would be applied.
#[must_use]
pub fn retrieve_checkout_session_object(account: &str, id: &str) -> Call<serde_json::Value> {
    Call::get(
        format!("/v1/checkout/sessions/{id}"),
        Form::new(),
        Some(account),
    )
}

/// Ends an open Checkout session (its stock is then released by the expiry event).
#[must_use]
pub fn expire_checkout_session(
    account: &str,
    id: &str,
    operation: &Operation,
) -> Call<CheckoutSession> {
    Call::post(
        format!("/v1/checkout/sessions/{id}/expire"),
        Form::new(),
        Some(account),
        operation,
    )
}

/// A billing portal session for a customer of a connected account (`Some`), or of the
/// operator's own account (`None`: the developer's Tollgate plan).
#[must_use]
pub fn create_portal_session(
    account: Option<&str>,
    operation: &Operation,
    customer: &str,
    return_url: &str,
) -> Call<PortalSession> {
    let form = Form::new()
        .field("customer", customer)
        .field("return_url", return_url);
    Call::post("/v1/billing_portal/sessions", form, account, operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_carries_a_key_derived_from_its_operation() {
        let operation = Operation::new(["tier", "tier_1", "price", "7"]);
        let call = create_price(
            Some("acct_1"),
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
    fn an_upgrade_is_paid_first_a_downgrade_waits_for_renewal_and_a_cancel_is_a_keyed_delete() {
        let operation = Operation::new(["sub-change", "proj_1", "k1"]);
        let change = update_subscription(
            "acct_1",
            "sub_1",
            &operation,
            &SubscriptionUpdate::Price {
                item: "si_1",
                price: "price_2",
                when: PriceChange::PaidFirst,
            },
        );
        assert_eq!(change.path, "/v1/subscriptions/sub_1");
        assert_eq!(
            change.body().as_deref(),
            Some(
                "items%5B0%5D%5Bid%5D=si_1&items%5B0%5D%5Bprice%5D=price_2&proration_behavior=always_invoice&payment_behavior=pending_if_incomplete"
            )
        );
        let down = update_subscription(
            "acct_1",
            "sub_1",
            &operation,
            &SubscriptionUpdate::Price {
                item: "si_1",
                price: "price_0",
                when: PriceChange::AtRenewal {
                    paid_tier: "tier_team",
                    until: 1_800_000_000,
                },
            },
        )
        .body()
        .unwrap_or_default();
        for part in [
            "proration_behavior=none",
            "metadata%5Btollgate_paid_tier_id%5D=tier_team",
            "metadata%5Btollgate_paid_until%5D=1800000000",
            "metadata%5Btollgate_scheduled_price_id%5D=price_0",
        ] {
            assert!(down.contains(part), "{part} in {down}");
        }
        assert!(!down.contains("always_invoice"));
        let back = update_subscription(
            "acct_1",
            "sub_1",
            &operation,
            &SubscriptionUpdate::Price {
                item: "si_1",
                price: "price_2",
                when: PriceChange::Revert,
            },
        )
        .body()
        .unwrap_or_default();
        assert!(back.contains("proration_behavior=none&metadata%5Btollgate_paid_tier_id%5D=&"));
        let pause = update_subscription(
            "acct_1",
            "sub_1",
            &operation,
            &SubscriptionUpdate::CancelAtPeriodEnd(true),
        );
        assert_eq!(pause.body().as_deref(), Some("cancel_at_period_end=true"));

        let cancel = cancel_subscription("acct_1", "sub_1", &operation);
        assert_eq!(cancel.verb, HttpVerb::Delete);
        assert_eq!(cancel.account.as_deref(), Some("acct_1"));
        assert_eq!(
            cancel.idempotency_key.as_deref(),
            Some("tollgate:sub-change:proj_1:k1")
        );
        assert!(cancel.safe_to_retry());
        assert_eq!(cancel.body(), None);
    }

    #[test]
    fn a_one_time_price_sends_no_recurrence() {
        let call = create_price(
            Some("acct_1"),
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
    fn a_subscription_session_carries_our_references_to_the_subscription_and_its_trial() {
        let spec = SessionSpec {
            lines: vec![("price_1", 1)],
            success_url: "https://s.example/ok",
            cancel_url: "https://s.example/no",
            customer: Some("cus_1"),
            customer_email: None,
            client_reference_id: Some("cus_tg"),
            metadata: vec![("tollgate_tier_id", "tier_1")],
            trial_days: Some(7),
            expires_at: 1_800_000_000,
        };
        let body = create_subscription_session(Some("acct_1"), &Operation::new(["s"]), &spec)
            .body()
            .unwrap_or_default();
        for part in [
            "mode=subscription",
            "line_items%5B0%5D%5Bprice%5D=price_1",
            "metadata%5Btollgate_tier_id%5D=tier_1",
            "subscription_data%5Bmetadata%5D%5Btollgate_tier_id%5D=tier_1",
            "subscription_data%5Btrial_period_days%5D=7",
            "expires_at=1800000000",
        ] {
            assert!(body.contains(part), "{part} in {body}");
        }
        let payment = create_payment_session("acct_1", &Operation::new(["p"]), &spec)
            .body()
            .unwrap_or_default();
        assert!(payment.contains("payment_intent_data%5Bmetadata%5D%5Btollgate_tier_id%5D=tier_1"));
        assert!(!payment.contains("trial_period_days"));
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
