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
    /// Our own references.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Whether it is a live-mode session.
    pub livemode: bool,
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
    fn a_one_time_price_has_no_recurrence() {
        let price: Price = serde_json::from_str(
            r#"{"id":"price_1","product":"prod_1","unit_amount":900,"currency":"eur","active":true,"recurring":null,"type":"one_time"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(price.recurring, None);
        assert_eq!(price.unit_amount, Some(900));
    }
}
