//! The Stripe objects Tollgate reads, with only the fields it uses. Unknown fields are
//! ignored, so Stripe adding fields never breaks us; a missing field we rely on does.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A product (`prod_…`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Product {
    /// `prod_…`
    pub id: String,
    /// Whether it can be sold.
    pub active: bool,
    /// The display name.
    pub name: String,
}

/// How often a recurring price bills.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Recurring {
    /// `month` or `year`.
    pub interval: String,
    /// Every how many intervals.
    #[serde(default = "one")]
    pub interval_count: i64,
}

const fn one() -> i64 {
    1
}

/// A price (`price_…`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Price {
    /// `price_…`
    pub id: String,
    /// The product it prices.
    pub product: String,
    /// Minor units; absent for custom-amount prices, which we never create.
    pub unit_amount: Option<i64>,
    /// Lower-case ISO currency.
    pub currency: String,
    /// Whether new purchases may use it.
    pub active: bool,
    /// Present for subscription prices.
    pub recurring: Option<Recurring>,
}

/// A customer (`cus_…`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Customer {
    /// `cus_…`
    pub id: String,
    /// The email, when known.
    pub email: Option<String>,
}

/// A Checkout session (`cs_…`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CheckoutSession {
    /// `cs_…`
    pub id: String,
    /// `subscription` or `payment`.
    pub mode: String,
    /// `open`, `complete` or `expired`.
    pub status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    /// The hosted page, while open.
    pub url: Option<String>,
    /// The customer, once known.
    pub customer: Option<String>,
    /// The subscription a subscription-mode session created.
    pub subscription: Option<String>,
    /// The payment a payment-mode session created.
    pub payment_intent: Option<String>,
    /// Minor units.
    pub amount_total: Option<i64>,
    /// Lower-case ISO currency.
    pub currency: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The end user the session was made for (our `cus_…`).
    pub client_reference_id: Option<String>,
    /// Our own references.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Whether it is a live-mode session.
    pub livemode: bool,
}

impl CheckoutSession {
    /// Whether the money is in: `paid`, or `no_payment_required` (a free trial, a zero
    /// total). A session can be `complete` and still unpaid while a delayed method (SEPA,
    /// ACH, Boleto, a bank transfer) settles: nothing may be granted for it yet.
    #[must_use]
    pub fn is_paid(&self) -> bool {
        matches!(self.payment_status.as_str(), "paid" | "no_payment_required")
    }
}

/// A billing portal session.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PortalSession {
    /// `bps_…`
    pub id: String,
    /// Where to send the customer.
    pub url: String,
}

/// One item of a subscription.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SubscriptionItem {
    /// `si_…`
    pub id: String,
    /// The price it bills.
    pub price: Price,
    /// Unix seconds; recent API versions keep the period on the item.
    pub current_period_start: Option<i64>,
    /// Unix seconds.
    pub current_period_end: Option<i64>,
}

/// A list envelope.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct List<T> {
    /// The page of objects.
    pub data: Vec<T>,
    /// Whether more follow.
    #[serde(default)]
    pub has_more: bool,
}

/// A subscription (`sub_…`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Subscription {
    /// `sub_…`
    pub id: String,
    /// Stripe's status (`active`, `trialing`, `past_due`, `canceled`, …).
    pub status: String,
    /// The customer billed.
    pub customer: String,
    /// Whether it ends at the period's end.
    pub cancel_at_period_end: bool,
    /// Unix seconds, when it was canceled.
    pub canceled_at: Option<i64>,
    /// Older API versions' period; see [`SubscriptionItem`].
    pub current_period_start: Option<i64>,
    /// Older API versions' period.
    pub current_period_end: Option<i64>,
    /// The items (one per price).
    pub items: List<SubscriptionItem>,
    /// Our own references.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// A change that waits for its invoice to be paid (`payment_behavior=pending_if_incomplete`);
    /// until then the items above are what the subscription bills and grants.
    #[serde(default)]
    pub pending_update: Option<PendingUpdate>,
}

/// The changes a subscription applies once its latest invoice is paid. Only its expiry is
/// read: what it would grant is never granted before Stripe applies it.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct PendingUpdate {
    /// Unix seconds after which the changes are discarded.
    pub expires_at: i64,
}

impl Subscription {
    /// The billing period in Unix seconds, wherever this API version keeps it.
    #[must_use]
    pub fn period(&self) -> Option<(i64, i64)> {
        let item = self.items.data.first();
        let start = item
            .and_then(|i| i.current_period_start)
            .or(self.current_period_start)?;
        let end = item
            .and_then(|i| i.current_period_end)
            .or(self.current_period_end)?;
        Some((start, end))
    }
}

/// The service period of an invoice line (Unix seconds).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct LinePeriod {
    /// Unix seconds.
    pub start: i64,
    /// Unix seconds.
    pub end: i64,
}

/// One line of an invoice.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct InvoiceLine {
    /// What the line bills for.
    pub period: LinePeriod,
}

/// Where recent API versions name an invoice's subscription.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct InvoiceParent {
    /// Present for subscription invoices.
    pub subscription_details: Option<SubscriptionDetails>,
}

/// The subscription an invoice bills.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct SubscriptionDetails {
    /// `sub_…`
    pub subscription: Option<String>,
}

/// An invoice (`in_…`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Invoice {
    /// `in_…`
    pub id: String,
    /// Older API versions name the subscription here.
    pub subscription: Option<String>,
    /// Recent API versions name it here.
    pub parent: Option<InvoiceParent>,
    /// The lines; a subscription invoice's lines carry the period they pay for.
    pub lines: List<InvoiceLine>,
    /// Why it was issued: `subscription_create`, `subscription_cycle`, `subscription_update`, …
    #[serde(default)]
    pub billing_reason: Option<String>,
    /// Minor units paid (0 for a trial's invoice).
    #[serde(default)]
    pub amount_paid: i64,
    /// ISO code, lower case.
    #[serde(default)]
    pub currency: Option<String>,
}

impl Invoice {
    /// The subscription billed, wherever this API version keeps it.
    #[must_use]
    pub fn subscription_id(&self) -> Option<&str> {
        self.parent
            .as_ref()
            .and_then(|p| p.subscription_details.as_ref())
            .and_then(|d| d.subscription.as_deref())
            .or(self.subscription.as_deref())
    }

    /// Whether it bills a mid-period change (a proration), not a period: paying it moves no
    /// period, and failing it leaves the subscription as it was (a pending update waits).
    #[must_use]
    pub fn is_proration(&self) -> bool {
        self.billing_reason.as_deref() == Some("subscription_update")
    }

    /// The period the invoice pays for: from the earliest line start to the latest line end.
    /// The invoice's own `period_start`/`period_end` describe the previous period for
    /// renewals, so only the lines say which period was paid.
    #[must_use]
    pub fn service_period(&self) -> Option<(i64, i64)> {
        let start = self.lines.data.iter().map(|l| l.period.start).min()?;
        let end = self.lines.data.iter().map(|l| l.period.end).max()?;
        Some((start, end))
    }
}

/// A charge (`ch_…`): the payment a refund or a dispute is about.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Charge {
    /// `ch_…`
    pub id: String,
    /// Minor units charged.
    pub amount: i64,
    /// Minor units refunded so far (cumulative over every refund of the charge).
    #[serde(default)]
    pub amount_refunded: i64,
    /// Whether the whole charge has been refunded.
    #[serde(default)]
    pub refunded: bool,
    /// The payment intent that made it; how an order is found.
    pub payment_intent: Option<String>,
    /// The customer charged.
    pub customer: Option<String>,
    /// Older API versions name a subscription charge's invoice here (removed in 2025-03-31).
    #[serde(default)]
    pub invoice: Option<String>,
    /// ISO code, lower case.
    #[serde(default)]
    pub currency: Option<String>,
    /// When it was charged (Unix seconds).
    #[serde(default)]
    pub created: Option<i64>,
}

/// A dispute (`dp_…`) on a charge.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Dispute {
    /// `dp_…`
    pub id: String,
    /// The disputed charge.
    pub charge: String,
    /// The charge's payment intent, when it has one.
    pub payment_intent: Option<String>,
    /// Minor units disputed.
    pub amount: i64,
    /// `needs_response`, `under_review`, `won`, `lost`, `warning_closed`, …
    pub status: String,
}

impl Dispute {
    /// Whether a closed dispute took the money: only `lost` does (`won`, `warning_closed` and
    /// `prevented` leave it with the merchant).
    #[must_use]
    pub fn is_lost(&self) -> bool {
        self.status == "lost"
    }
}

/// What `POST /oauth/token` returns for a connected account.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct OAuthToken {
    /// The connected account, `acct_…`.
    pub stripe_user_id: String,
    /// Whether the connection is for live mode.
    pub livemode: bool,
    /// The granted scope.
    pub scope: Option<String>,
    /// The account's own secret key; kept only encrypted.
    pub access_token: Option<String>,
    /// Kept only encrypted.
    pub refresh_token: Option<String>,
}

/// What `POST /oauth/deauthorize` returns.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Deauthorized {
    /// The account that was disconnected.
    pub stripe_user_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_reads_its_period_from_the_item_first_then_the_top_level() {
        let item_level = r#"{"id":"sub_1","status":"active","customer":"cus_1","cancel_at_period_end":false,
            "canceled_at":null,"current_period_start":1,"current_period_end":2,"metadata":{"k":"v"},
            "items":{"object":"list","data":[{"id":"si_1","current_period_start":10,"current_period_end":20,
              "price":{"id":"price_1","product":"prod_1","unit_amount":500,"currency":"usd","active":true,
                       "recurring":{"interval":"month","interval_count":1}}}]},"extra":{"ignored":true}}"#;
        let top_only =
            item_level.replace(r#""current_period_start":10,"current_period_end":20,"#, "");

        let with_item: Subscription =
            serde_json::from_str(item_level).unwrap_or_else(|e| panic!("{e}"));
        let without: Subscription =
            serde_json::from_str(&top_only).unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(with_item.period(), Some((10, 20)));
        assert_eq!(without.period(), Some((1, 2)));
        assert_eq!(with_item.metadata.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn an_invoice_names_its_subscription_through_its_parent_first_and_pays_for_its_lines_period() {
        let invoice: Invoice = serde_json::from_str(
            r#"{"id":"in_1","subscription":"sub_old","period_start":1,"period_end":2,
               "parent":{"type":"subscription_details","subscription_details":{"subscription":"sub_1"}},
               "lines":{"object":"list","data":[{"id":"il_1","period":{"start":100,"end":200}},
                                                {"id":"il_2","period":{"start":90,"end":210}}]}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let legacy: Invoice = serde_json::from_str(
            r#"{"id":"in_2","subscription":"sub_2","parent":null,"lines":{"data":[]}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(invoice.subscription_id(), Some("sub_1"));
        assert_eq!(invoice.service_period(), Some((90, 210)));
        assert_eq!((invoice.amount_paid, invoice.currency), (0, None));
        assert_eq!(legacy.subscription_id(), Some("sub_2"));
        assert_eq!(legacy.service_period(), None);
    }

    #[test]
    fn a_one_time_price_has_no_recurrence() {
        let price: Price = serde_json::from_str(
            r#"{"id":"price_1","product":"prod_1","unit_amount":900,"currency":"eur","active":true,"recurring":null,"type":"one_time"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(price.recurring, None);
        assert_eq!(price.unit_amount, Some(900));
    }

    #[test]
    fn only_a_paid_or_free_session_is_paid_whatever_its_status() {
        let cases = [
            ("complete", "paid", true),
            ("complete", "no_payment_required", true),
            ("complete", "unpaid", false),
            ("open", "unpaid", false),
        ];
        for (status, payment_status, paid) in cases {
            let session: CheckoutSession = serde_json::from_value(serde_json::json!({
                "id": "cs_test_1", "mode": "payment", "status": status,
                "payment_status": payment_status, "expires_at": 1, "livemode": false,
            }))
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(session.is_paid(), paid, "{status}/{payment_status}");
        }
    }
}
