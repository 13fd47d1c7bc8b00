//! Checkout inputs: subscription checkout, cart checkout and the billing portal, validated
//! at the boundary; and the rule for where a buyer may be sent back to (no open redirects).

use crate::Mode;
use crate::console::FieldErrors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn field_error(errors: &mut FieldErrors, field: &str, reason: &str) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(reason.to_owned());
}

/// The most units of one item a cart may hold.
pub const MAX_QUANTITY: i64 = 99;
/// The most distinct items a cart may hold.
pub const MAX_LINES: usize = 20;

/// A checkout session's state as Tollgate stores it (`checkout_sessions.status`), parsed once
/// where the row is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Waiting for the buyer at Stripe.
    Open,
    /// Complete at Stripe, a delayed payment (a bank debit) not yet in.
    AwaitingPayment,
    /// Paid and applied.
    Complete,
    /// The delayed payment failed.
    Failed,
    /// Stripe expired it unpaid.
    Expired,
}

impl SessionStatus {
    /// The stored word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::AwaitingPayment => "awaiting_payment",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    /// The state as clients read it: `awaiting_payment` is `pending_payment`; the others read
    /// as stored.
    #[must_use]
    pub const fn public(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "pending_payment",
            other => other.as_str(),
        }
    }

    /// Whether nothing can happen to the session any more: applied, or its payment failed.
    #[must_use]
    pub const fn is_settled(self) -> bool {
        matches!(self, Self::Complete | Self::Failed)
    }

    /// Whether Stripe may still complete it, so asking Stripe is worth a round trip.
    #[must_use]
    pub const fn may_complete(self) -> bool {
        matches!(self, Self::Open | Self::AwaitingPayment)
    }
}

/// What a checkout session sells (`checkout_sessions.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A tier, billed every interval.
    Subscription,
    /// A cart of products, paid once.
    Payment,
}

impl SessionKind {
    /// The stored word, also the answer's `mode`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Subscription => "subscription",
            Self::Payment => "payment",
        }
    }
}

/// Where a cart's order stands (`orders.status`), parsed once where the row is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Its checkout is open; its stock is held.
    Pending,
    /// Its session completed with a delayed payment not yet in.
    AwaitingPayment,
    /// Paid: its products are granted.
    Paid,
    /// Its delayed payment failed; its stock went back.
    Failed,
    /// Its session expired unpaid; its stock went back.
    Expired,
    /// Refunded in full: its access is gone for good.
    Refunded,
    /// Its charge is disputed: its access is suspended.
    Disputed,
    /// Paid after its hold lapsed and stock ran out: the developer must act.
    NeedsAttention,
}

impl OrderStatus {
    /// The stored word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::AwaitingPayment => "awaiting_payment",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
            Self::Disputed => "disputed",
            Self::NeedsAttention => "needs_attention",
        }
    }

    /// Whether money was taken for it at some point, so refunds and disputes apply.
    #[must_use]
    pub const fn was_paid(self) -> bool {
        matches!(
            self,
            Self::Paid | Self::Refunded | Self::Disputed | Self::NeedsAttention
        )
    }
}

/// Where one line of a cart's order stands with its stock (`inventory_reservations.status`): the units a
/// cart reserves are held until its payment settles, then committed or given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// Reserved for the open checkout: counted against stock, not yet sold.
    Held,
    /// Sold: the units left stock for good.
    Committed,
    /// Given back (the session expired or its payment failed): stock has them again.
    Released,
}

impl LineStatus {
    /// The stored word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Committed => "committed",
            Self::Released => "released",
        }
    }
}

/// The free-trial days a subscription checkout offers: the tier's, once per end user and
/// project — an end user who was offered a trial before (and did not let it lapse unpaid)
/// gets none.
#[must_use]
pub fn trial_days(tier_days: i64, had_trial: bool) -> Option<i64> {
    (tier_days > 0 && !had_trial).then_some(tier_days)
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL, lower-cased; `None` for
/// anything else (relative, other schemes, credentials in the URL, control characters).
#[must_use]
pub fn origin_of(url: &str) -> Option<String> {
    if url.len() > 2048 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') || authority.contains('\\') {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// Whether `origin` is a local development origin (loopback), allowed in test mode.
fn loopback(origin: &str) -> bool {
    let host = origin.split_once("://").map_or("", |(_, h)| h);
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// Validates the origins a project may redirect to: each an `https` origin (or, for local
/// work, a loopback `http` one), no path.
///
/// # Errors
/// The offending entries.
pub fn parse_origins(raw: &[String]) -> Result<Vec<String>, FieldErrors> {
    let mut errors = FieldErrors::new();
    if raw.len() > 20 {
        field_error(&mut errors, "origins", "must have at most 20 entries");
    }
    let mut origins = Vec::new();
    for entry in raw {
        match origin_of(entry) {
            Some(origin)
                if origin == entry.trim_end_matches('/').to_ascii_lowercase()
                    && (origin.starts_with("https://") || loopback(&origin)) =>
            {
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
            _ => field_error(
                &mut errors,
                "origins",
                &format!("{entry:?} is not an https origin (scheme://host[:port], no path)"),
            ),
        }
    }
    if errors.is_empty() {
        Ok(origins)
    } else {
        Err(errors)
    }
}

/// `PUT /v1/projects/{id}/redirect-origins`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectOriginsInput {
    /// Bare origins, e.g. `https://shop.example`.
    pub origins: Vec<String>,
}

/// Whether a buyer may be sent to `url`: its origin is one of the project's, or — in test
/// mode only — a loopback origin, so local development needs no configuration.
#[must_use]
pub fn redirect_allowed(url: &str, allowed: &[String], mode: Mode) -> bool {
    origin_of(url).is_some_and(|origin| {
        allowed.contains(&origin) || (mode == Mode::Test && loopback(&origin))
    })
}

/// `POST /api/create-checkout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubscriptionCheckoutInput {
    /// The tier's name (dream-api) — or its id.
    pub tier: Option<String>,
    /// Refused unless it is the tier's own price (dream-api's clients send it).
    pub price_id: Option<String>,
    /// Where Stripe sends the buyer after paying; `{CHECKOUT_SESSION_ID}` is filled in.
    pub success_url: Option<String>,
    /// Where Stripe sends the buyer who gives up.
    pub cancel_url: Option<String>,
}

/// A validated subscription checkout.
#[derive(Debug, PartialEq, Eq)]
pub struct SubscriptionCheckout {
    /// Tier name or id.
    pub tier: String,
    /// A client-sent price id to compare with the tier's.
    pub price_id: Option<String>,
    /// Success URL.
    pub success_url: String,
    /// Cancel URL.
    pub cancel_url: String,
}

fn redirect_field(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<String>,
    allowed: &[String],
    mode: Mode,
) -> String {
    match raw {
        None => {
            field_error(errors, field, "is required");
            String::new()
        }
        Some(url) if redirect_allowed(&url, allowed, mode) => url,
        Some(_) => {
            field_error(
                errors,
                field,
                "must be an http(s) URL on one of the project's redirect origins",
            );
            String::new()
        }
    }
}

impl SubscriptionCheckoutInput {
    /// Validates against the project's redirect origins.
    ///
    /// # Errors
    /// Every invalid field.
    pub fn validate(
        self,
        allowed: &[String],
        mode: Mode,
    ) -> Result<SubscriptionCheckout, FieldErrors> {
        let mut errors = FieldErrors::new();
        let tier = self
            .tier
            .filter(|t| !t.trim().is_empty() && t.len() <= 64)
            .unwrap_or_else(|| {
                field_error(&mut errors, "tier", "is required: the tier's name");
                String::new()
            });
        let success_url =
            redirect_field(&mut errors, "successUrl", self.success_url, allowed, mode);
        let cancel_url = redirect_field(&mut errors, "cancelUrl", self.cancel_url, allowed, mode);
        if errors.is_empty() {
            Ok(SubscriptionCheckout {
                tier,
                price_id: self.price_id,
                success_url,
                cancel_url,
            })
        } else {
            Err(errors)
        }
    }
}

/// One cart line as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CartItemInput {
    /// Our product id (`prd_…`).
    pub product_id: Option<String>,
    /// Or the product's Stripe price id.
    pub price_id: Option<String>,
    /// 1–99; default 1.
    pub quantity: Option<i64>,
}

/// `POST /api/cart/checkout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CartCheckoutInput {
    /// The lines.
    pub items: Option<Vec<CartItemInput>>,
    /// Success URL.
    pub success_url: Option<String>,
    /// Cancel URL.
    pub cancel_url: Option<String>,
    /// The buyer's email, for a guest.
    pub email: Option<String>,
    /// The buyer's name, which dream-api's SDK sends; accepted so those clients keep
    /// working, and not used (Stripe's page asks for it).
    pub name: Option<String>,
}

/// How a cart names a product.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ItemRef {
    /// Our id.
    Product(String),
    /// Its Stripe price.
    Price(String),
}

/// A validated cart: lines merged by reference.
#[derive(Debug, PartialEq, Eq)]
pub struct Cart {
    /// Reference → quantity (merged duplicates).
    pub lines: BTreeMap<ItemRef, i64>,
    /// Success URL.
    pub success_url: String,
    /// Cancel URL.
    pub cancel_url: String,
    /// Guest email.
    pub email: Option<String>,
}

impl Cart {
    /// The lines' references, split: our product ids, and Stripe price ids.
    #[must_use]
    pub fn references(&self) -> (Vec<&str>, Vec<&str>) {
        let mut products = Vec::new();
        let mut prices = Vec::new();
        for reference in self.lines.keys() {
            match reference {
                ItemRef::Product(id) => products.push(id.as_str()),
                ItemRef::Price(id) => prices.push(id.as_str()),
            }
        }
        (products, prices)
    }
}

impl CartCheckoutInput {
    /// Validates and merges duplicate lines.
    ///
    /// # Errors
    /// Every invalid field.
    pub fn validate(self, allowed: &[String], mode: Mode) -> Result<Cart, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut lines = BTreeMap::new();
        let items = self.items.unwrap_or_default();
        if items.is_empty() || items.len() > MAX_LINES {
            field_error(
                &mut errors,
                "items",
                &format!("must hold 1 to {MAX_LINES} lines"),
            );
        }
        for (index, item) in items.into_iter().enumerate() {
            let reference = match (item.product_id, item.price_id) {
                (Some(id), None) if !id.is_empty() && id.len() <= 64 => ItemRef::Product(id),
                (None, Some(id)) if !id.is_empty() && id.len() <= 255 => ItemRef::Price(id),
                _ => {
                    field_error(
                        &mut errors,
                        &format!("items[{index}]"),
                        "needs exactly one of productId or priceId",
                    );
                    continue;
                }
            };
            let quantity = item.quantity.unwrap_or(1);
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                field_error(
                    &mut errors,
                    &format!("items[{index}].quantity"),
                    "must be from 1 to 99",
                );
                continue;
            }
            *lines.entry(reference).or_insert(0) += quantity;
        }
        for (reference, quantity) in &lines {
            if *quantity > MAX_QUANTITY {
                let id = match reference {
                    ItemRef::Product(id) | ItemRef::Price(id) => id,
                };
                field_error(
                    &mut errors,
                    "items",
                    &format!("{id}: at most 99 units in all"),
                );
            }
        }
        let email = match self.email {
            Some(raw) => match crate::end_user::Email::parse(&raw) {
                Ok(email) => Some(email.as_str().to_owned()),
                Err(reason) => {
                    field_error(&mut errors, "email", reason);
                    None
                }
            },
            None => None,
        };
        let success_url =
            redirect_field(&mut errors, "successUrl", self.success_url, allowed, mode);
        let cancel_url = redirect_field(&mut errors, "cancelUrl", self.cancel_url, allowed, mode);
        if errors.is_empty() {
            Ok(Cart {
                lines,
                success_url,
                cancel_url,
                email,
            })
        } else {
            Err(errors)
        }
    }
}

/// `POST /v1/billing/checkout`: the developer's own Tollgate plan.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlanCheckoutInput {
    /// Back to the console after paying.
    pub success_url: Option<String>,
    /// Back to the console after giving up.
    pub cancel_url: Option<String>,
}

impl PlanCheckoutInput {
    /// Validates both URLs against the console's origins.
    ///
    /// # Errors
    /// Every invalid field.
    pub fn validate(self, allowed: &[String], mode: Mode) -> Result<(String, String), FieldErrors> {
        let mut errors = FieldErrors::new();
        let success = redirect_field(&mut errors, "successUrl", self.success_url, allowed, mode);
        let cancel = redirect_field(&mut errors, "cancelUrl", self.cancel_url, allowed, mode);
        if errors.is_empty() {
            Ok((success, cancel))
        } else {
            Err(errors)
        }
    }
}

/// `POST /api/customer-portal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortalInput {
    /// Where the portal's "return" link goes.
    pub return_url: Option<String>,
}

impl PortalInput {
    /// Validates the return URL like a success URL.
    ///
    /// # Errors
    /// `returnUrl` when missing or not on the project's origins.
    pub fn validate(self, allowed: &[String], mode: Mode) -> Result<String, FieldErrors> {
        let mut errors = FieldErrors::new();
        let url = redirect_field(&mut errors, "returnUrl", self.return_url, allowed, mode);
        if errors.is_empty() {
            Ok(url)
        } else {
            Err(errors)
        }
    }
}

/// The answer to a checkout that opened (`CheckoutStarted`, and a cart's `orderId` and, for a
/// guest, the `sessionSecret` that lets it read its own session).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Started<'a> {
    /// Stripe's hosted checkout page (Stripe always states it for a hosted session).
    pub url: Option<&'a str>,
    /// `cs_…`
    pub session_id: &'a str,
    /// The cart's order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<&'a str>,
    /// When Stripe expires the session (ms).
    pub expires_at: i64,
    /// A guest cart's read secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_secret: Option<String>,
}

/// A session's status as a success page reads it: whoever knows the id learns only whether
/// it is paid; its buyer (or the server) also what it sells and to whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView<'a> {
    /// `cs_…`
    pub session_id: &'a str,
    /// In the public words (`pending_payment` for a completion awaiting its money).
    pub status: &'a str,
    /// Whether the money is in.
    pub paid: bool,
    /// What only the session's owner reads.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub detail: Option<StatusDetail<'a>>,
}

/// The owner's part of a [`StatusView`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetail<'a> {
    /// What the session sells.
    pub mode: SessionKind,
    /// A cart's lines (`null` for a subscription).
    pub items: Option<Vec<ItemView<'a>>>,
    /// The buyer, when known.
    pub customer: Option<&'a str>,
    /// When Stripe expires the session (ms).
    pub expires_at: i64,
}

/// One line of a cart as a success page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemView<'a> {
    /// `prod_…`
    pub product_id: &'a str,
    /// Its slug.
    pub name: &'a str,
    /// Units.
    pub quantity: i64,
    /// Minor units each.
    pub unit_amount: i64,
}

/// What a reconcile came to: the session's status, whether this call applied it, and what
/// the buyer now has (a cart's order, or a subscription's plan and limit).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciled<'a> {
    /// `cs_…`
    pub session_id: &'a str,
    /// In the public words.
    pub status: &'a str,
    /// What the session sells.
    pub mode: SessionKind,
    /// Whether this call applied it (a webhook may have before).
    pub applied: bool,
    /// A cart's order, as it stands now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderOutcome<'a>>,
    /// A subscriber's allowance now.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub allowance: Option<PlanNow<'a>>,
}

/// A subscriber's plan (`null` when no tier applies) and usage limit after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PlanNow<'a> {
    /// The tier's name.
    pub plan: Option<&'a str>,
    /// Its limit.
    pub limit: crate::usage::Limit,
}

/// A cart's order after a reconcile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderOutcome<'a> {
    /// `ord_…`
    pub id: &'a str,
    /// Where it stands.
    pub status: OrderStatus,
    /// The products it entitles.
    pub entitlements: Vec<String>,
}

/// An answer that is only a URL to send the buyer to (the billing portal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct UrlView<'a> {
    /// Where to go.
    pub url: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shop() -> Vec<String> {
        vec!["https://shop.example".to_owned()]
    }

    #[test]
    fn a_stored_session_status_reads_back_as_itself_and_clients_read_awaiting_payment_as_pending() {
        use SessionStatus::{AwaitingPayment, Complete, Expired, Failed, Open};
        for (status, stored, public, settled, may_complete) in [
            (Open, "open", "open", false, true),
            (
                AwaitingPayment,
                "awaiting_payment",
                "pending_payment",
                false,
                true,
            ),
            (Complete, "complete", "complete", true, false),
            (Failed, "failed", "failed", true, false),
            (Expired, "expired", "expired", false, false),
        ] {
            let parsed: SessionStatus =
                serde_json::from_value(serde_json::json!(stored)).unwrap_or(Expired);
            assert_eq!(parsed, status, "{stored}");
            assert_eq!(status.as_str(), stored);
            assert_eq!(status.public(), public);
            assert_eq!(status.is_settled(), settled, "{stored}");
            assert_eq!(status.may_complete(), may_complete, "{stored}");
        }
    }

    #[test]
    fn a_status_or_kind_the_schema_does_not_allow_does_not_parse() {
        for bad in ["", "Open", "pending_payment", "paid"] {
            assert!(
                serde_json::from_value::<SessionStatus>(serde_json::json!(bad)).is_err(),
                "{bad}"
            );
        }
        for bad in ["", "setup", "Subscription"] {
            assert!(
                serde_json::from_value::<SessionKind>(serde_json::json!(bad)).is_err(),
                "{bad}"
            );
        }
        assert_eq!(SessionKind::Payment.as_str(), "payment");
    }

    #[test]
    fn a_trial_is_offered_once_and_only_when_the_tier_has_one() {
        assert_eq!(trial_days(14, false), Some(14));
        assert_eq!(trial_days(14, true), None);
        assert_eq!(trial_days(0, false), None);
    }

    #[test]
    fn only_the_projects_origins_and_test_mode_loopback_are_allowed_back() {
        let cases = [
            (
                "https://shop.example/thanks?s={CHECKOUT_SESSION_ID}",
                Mode::Live,
                true,
            ),
            ("https://SHOP.example/x", Mode::Live, true),
            ("https://shop.example.evil.test/x", Mode::Live, false),
            ("https://evil.test/?https://shop.example", Mode::Live, false),
            ("https://shop.example@evil.test/", Mode::Live, false),
            ("http://shop.example/x", Mode::Live, false),
            ("javascript:alert(1)", Mode::Test, false),
            ("//evil.test/x", Mode::Test, false),
            ("/relative", Mode::Test, false),
            ("http://127.0.0.1:5173/ok", Mode::Test, true),
            ("http://localhost:3000/ok", Mode::Test, true),
            ("http://127.0.0.1:5173/ok", Mode::Live, false),
            ("https://shop.example/a b", Mode::Live, false),
        ];
        for (url, mode, expected) in cases {
            assert_eq!(
                redirect_allowed(url, &shop(), mode),
                expected,
                "{url} {mode:?}"
            );
        }
    }

    #[test]
    fn redirect_origins_must_be_bare_https_origins() {
        assert_eq!(
            parse_origins(&[
                "https://Shop.example".to_owned(),
                "https://shop.example/".to_owned(),
                "http://localhost:3000".to_owned()
            ]),
            Ok(vec![
                "https://shop.example".to_owned(),
                "http://localhost:3000".to_owned()
            ])
        );
        for bad in [
            "http://shop.example",
            "https://shop.example/path",
            "shop.example",
            "https://a@b.example",
        ] {
            assert!(parse_origins(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn cart_lines_are_merged_and_bounded() {
        let input: CartCheckoutInput = serde_json::from_value(json!({
            "items": [{ "productId": "prd_a", "quantity": 2 }, { "productId": "prd_a" }, { "priceId": "price_b", "quantity": 3 }],
            "successUrl": "https://shop.example/ok", "cancelUrl": "https://shop.example/no"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let cart = input
            .validate(&shop(), Mode::Live)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            cart.lines.get(&ItemRef::Product("prd_a".to_owned())),
            Some(&3)
        );
        assert_eq!(
            cart.lines.get(&ItemRef::Price("price_b".to_owned())),
            Some(&3)
        );
    }

    #[test]
    fn bad_carts_name_each_problem() {
        let ok = |items: serde_json::Value| json!({ "items": items, "successUrl": "https://shop.example/ok", "cancelUrl": "https://shop.example/no" });
        let cases = [
            (ok(json!([])), "items"),
            (ok(json!([{ "quantity": 1 }])), "items[0]"),
            (
                ok(json!([{ "productId": "a", "priceId": "b" }])),
                "items[0]",
            ),
            (
                ok(json!([{ "productId": "a", "quantity": 0 }])),
                "items[0].quantity",
            ),
            (
                ok(json!([{ "productId": "a", "quantity": 100 }])),
                "items[0].quantity",
            ),
            (
                ok(
                    json!([{ "productId": "a", "quantity": 60 }, { "productId": "a", "quantity": 60 }]),
                ),
                "items",
            ),
            (
                json!({ "items": [{ "productId": "a" }], "successUrl": "https://evil.test/", "cancelUrl": "https://shop.example/no" }),
                "successUrl",
            ),
            (
                json!({ "items": [{ "productId": "a" }], "successUrl": "https://shop.example/ok" }),
                "cancelUrl",
            ),
        ];
        for (body, field) in cases {
            let input: CartCheckoutInput =
                serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{e}"));
            let errors = input
                .validate(&shop(), Mode::Live)
                .err()
                .unwrap_or_default();
            assert!(errors.contains_key(field), "{body} → {errors:?}");
        }
    }

    #[test]
    fn a_stored_line_status_reads_back_as_itself_and_nothing_else_parses() {
        for (status, word) in [
            (LineStatus::Held, "held"),
            (LineStatus::Committed, "committed"),
            (LineStatus::Released, "released"),
        ] {
            let parsed: Result<LineStatus, _> = serde_json::from_value(serde_json::json!(word));
            assert_eq!(parsed.ok(), Some(status));
            assert_eq!(status.as_str(), word);
        }
        for bad in ["", "Held", "reserved", "sold"] {
            assert!(serde_json::from_value::<LineStatus>(serde_json::json!(bad)).is_err());
        }
    }

    #[test]
    fn a_stored_order_status_reads_back_as_itself_and_only_a_paid_once_order_takes_refunds() {
        use OrderStatus::{
            AwaitingPayment, Disputed, Expired, Failed, NeedsAttention, Paid, Pending, Refunded,
        };
        for (status, word, paid) in [
            (Pending, "pending", false),
            (AwaitingPayment, "awaiting_payment", false),
            (Paid, "paid", true),
            (Failed, "failed", false),
            (Expired, "expired", false),
            (Refunded, "refunded", true),
            (Disputed, "disputed", true),
            (NeedsAttention, "needs_attention", true),
        ] {
            let parsed: Result<OrderStatus, _> = serde_json::from_value(serde_json::json!(word));
            assert_eq!(parsed.ok(), Some(status));
            assert_eq!(status.as_str(), word);
            assert_eq!(status.was_paid(), paid, "{word}");
        }
        for bad in ["", "Paid", "complete", "bogus"] {
            assert!(serde_json::from_value::<OrderStatus>(serde_json::json!(bad)).is_err());
        }
    }

    #[test]
    fn a_status_answers_only_whether_it_is_paid_to_a_stranger_and_everything_to_its_owner() {
        let public = StatusView {
            session_id: "cs_1",
            status: "pending_payment",
            paid: false,
            detail: None,
        };
        let owner = StatusView {
            detail: Some(StatusDetail {
                mode: SessionKind::Subscription,
                items: None,
                customer: Some("cus_1"),
                expires_at: 9,
            }),
            ..public.clone()
        };
        assert_eq!(
            serde_json::to_value(&public).ok(),
            Some(json!({ "sessionId": "cs_1", "status": "pending_payment", "paid": false }))
        );
        assert_eq!(
            serde_json::to_value(&owner).ok(),
            Some(
                json!({ "sessionId": "cs_1", "status": "pending_payment", "paid": false,
                "mode": "subscription", "items": null, "customer": "cus_1", "expiresAt": 9 })
            )
        );
    }

    #[test]
    fn a_started_checkout_names_its_order_and_secret_only_when_it_has_them() {
        let subscription = Started {
            url: Some("https://pay"),
            session_id: "cs_1",
            order_id: None,
            expires_at: 5,
            session_secret: None,
        };
        let guest_cart = Started {
            order_id: Some("ord_1"),
            session_secret: Some("css_x".into()),
            ..subscription.clone()
        };
        assert_eq!(
            serde_json::to_value(&subscription).ok(),
            Some(json!({ "url": "https://pay", "sessionId": "cs_1", "expiresAt": 5 }))
        );
        assert_eq!(
            serde_json::to_value(&guest_cart).ok(),
            Some(
                json!({ "url": "https://pay", "sessionId": "cs_1", "orderId": "ord_1",
                "expiresAt": 5, "sessionSecret": "css_x" })
            )
        );
    }

    #[test]
    fn a_reconcile_reports_a_cart_s_order_or_a_subscriber_s_plan() {
        let cart = Reconciled {
            session_id: "cs_1",
            status: "complete",
            mode: SessionKind::Payment,
            applied: true,
            order: Some(OrderOutcome {
                id: "ord_1",
                status: OrderStatus::Paid,
                entitlements: vec!["prod_1".into()],
            }),
            allowance: None,
        };
        let subscriber = Reconciled {
            mode: SessionKind::Subscription,
            applied: false,
            order: None,
            allowance: Some(PlanNow {
                plan: Some("pro"),
                limit: crate::usage::Limit::Unlimited,
            }),
            ..cart.clone()
        };
        assert_eq!(
            serde_json::to_value(&cart).ok(),
            Some(
                json!({ "sessionId": "cs_1", "status": "complete", "mode": "payment", "applied": true,
                "order": { "id": "ord_1", "status": "paid", "entitlements": ["prod_1"] } })
            )
        );
        assert_eq!(
            serde_json::to_value(&subscriber).ok(),
            Some(
                json!({ "sessionId": "cs_1", "status": "complete", "mode": "subscription",
                "applied": false, "plan": "pro", "limit": "unlimited" })
            )
        );
    }

    #[test]
    fn a_cart_s_references_split_into_product_ids_and_price_ids() {
        let cart = Cart {
            lines: [
                (ItemRef::Product("prod_b".into()), 1),
                (ItemRef::Price("price_1".into()), 2),
                (ItemRef::Product("prod_a".into()), 3),
            ]
            .into_iter()
            .collect(),
            success_url: String::new(),
            cancel_url: String::new(),
            email: None,
        };
        assert_eq!(
            cart.references(),
            (vec!["prod_a", "prod_b"], vec!["price_1"])
        );
    }
}
