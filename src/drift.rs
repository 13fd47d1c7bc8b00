//! Entitlement drift: where a subscription row Tollgate keeps disagrees with the provider's
//! subscription, which fields differ, and the confirmation value that pins one planned
//! repair to exactly the drift an operator reviewed.

use crate::stripe::events::SubscriptionTerms;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// At most this many local subscriptions are compared per call: each one costs a provider
/// request, and a Worker's subrequests are bounded.
pub const PAGE_LIMIT: usize = 50;

/// The stored side of one subscription, as the audit reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Local {
    /// `sub_…`
    pub stripe_subscription_id: String,
    /// Stored status.
    pub status: String,
    /// Stored price.
    pub stripe_price_id: Option<String>,
    /// Stored period end (ms).
    pub period_end: Option<i64>,
    /// Stored flag.
    pub cancel_at_period_end: bool,
}

/// What the provider answered for one subscription.
#[derive(Clone, Copy, Debug)]
pub enum Provider<'a> {
    /// It exists there, read with the webhooks' own mapping.
    Found(&'a SubscriptionTerms),
    /// The provider does not know it (404).
    Missing,
}

/// One field that disagrees, with both values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Discrepancy {
    /// `status_mismatch`, `price_mismatch`, `period_mismatch`,
    /// `cancel_at_period_end_mismatch` or `missing_at_provider`.
    pub kind: &'static str,
    /// What Tollgate stores.
    pub local: Value,
    /// What the provider says (`null` when it does not know the subscription).
    pub provider: Value,
}

/// Every disagreement between the stored row and the provider, in a fixed order; empty when
/// they agree. A subscription the provider does not know is one `missing_at_provider`
/// (nothing else can be compared).
#[must_use]
pub fn compare(local: &Local, provider: Provider<'_>) -> Vec<Discrepancy> {
    let terms = match provider {
        Provider::Missing => {
            return vec![Discrepancy {
                kind: "missing_at_provider",
                local: local.status.clone().into(),
                provider: Value::Null,
            }];
        }
        Provider::Found(terms) => terms,
    };
    let mut found = Vec::new();
    let mut differ = |kind, l: Value, p: Value| {
        if l != p {
            found.push(Discrepancy {
                kind,
                local: l,
                provider: p,
            });
        }
    };
    differ(
        "status_mismatch",
        local.status.clone().into(),
        terms.status.into(),
    );
    differ(
        "price_mismatch",
        local.stripe_price_id.clone().into(),
        terms.stripe_price_id.clone().into(),
    );
    differ(
        "period_mismatch",
        local.period_end.into(),
        terms.period_end.into(),
    );
    differ(
        "cancel_at_period_end_mismatch",
        local.cancel_at_period_end.into(),
        terms.cancel_at_period_end.into(),
    );
    found
}

/// The confirmation for a planned change set: a SHA-256 over each drifted subscription's id
/// and discrepancies, in the order given (callers list subscriptions by id). Any change in
/// the drift — one more subscription, one value moved — gives another value.
#[must_use]
pub fn confirmation(plan: &[(&str, &[Discrepancy])]) -> String {
    let mut hash = Sha256::new();
    for (id, found) in plan {
        hash.update(id.as_bytes());
        hash.update([0]);
        for d in *found {
            hash.update(d.kind.as_bytes());
            hash.update([0]);
            hash.update(d.local.to_string().as_bytes());
            hash.update([0]);
            hash.update(d.provider.to_string().as_bytes());
            hash.update([0]);
        }
        hash.update([1]);
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn terms(status: &'static str, price: &str, end: i64, cancel: bool) -> SubscriptionTerms {
        SubscriptionTerms {
            stripe_subscription_id: "sub_1".into(),
            stripe_customer_id: "cus_1".into(),
            stripe_price_id: price.into(),
            status,
            amount: 1000,
            currency: "usd".into(),
            interval: "month",
            period_start: Some(0),
            period_end: Some(end),
            cancel_at_period_end: cancel,
            canceled_at: None,
            metadata: BTreeMap::new(),
        }
    }

    fn local() -> Local {
        Local {
            stripe_subscription_id: "sub_1".into(),
            status: "active".into(),
            stripe_price_id: Some("price_a".into()),
            period_end: Some(5000),
            cancel_at_period_end: false,
        }
    }

    #[test]
    fn a_row_that_matches_the_provider_has_no_drift() {
        let t = terms("active", "price_a", 5000, false);
        assert!(compare(&local(), Provider::Found(&t)).is_empty());
    }

    #[test]
    fn each_differing_field_is_one_discrepancy_of_its_kind() {
        let cases: [(SubscriptionTerms, &str, Value, Value); 4] = [
            (
                terms("canceled", "price_a", 5000, false),
                "status_mismatch",
                "active".into(),
                "canceled".into(),
            ),
            (
                terms("active", "price_b", 5000, false),
                "price_mismatch",
                "price_a".into(),
                "price_b".into(),
            ),
            (
                terms("active", "price_a", 9000, false),
                "period_mismatch",
                5000.into(),
                9000.into(),
            ),
            (
                terms("active", "price_a", 5000, true),
                "cancel_at_period_end_mismatch",
                false.into(),
                true.into(),
            ),
        ];
        for (t, kind, l, p) in cases {
            let found = compare(&local(), Provider::Found(&t));
            assert_eq!(
                found,
                vec![Discrepancy {
                    kind,
                    local: l,
                    provider: p
                }],
                "{kind}"
            );
        }
    }

    #[test]
    fn a_subscription_the_provider_does_not_know_is_missing_at_provider_only() {
        let found = compare(&local(), Provider::Missing);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, "missing_at_provider");
        assert_eq!(found[0].provider, Value::Null);
    }

    #[test]
    fn the_confirmation_changes_whenever_the_drift_changes() {
        let canceled = terms("canceled", "price_a", 5000, false);
        let past_due = terms("past_due", "price_a", 5000, false);
        let a = compare(&local(), Provider::Found(&canceled));
        let b = compare(&local(), Provider::Found(&past_due));
        let one = confirmation(&[("sub_1", &a)]);
        assert_eq!(one, confirmation(&[("sub_1", &a)]), "stable");
        assert_eq!(one.len(), 32);
        assert_ne!(one, confirmation(&[("sub_1", &b)]));
        assert_ne!(one, confirmation(&[("sub_2", &a)]));
        assert_ne!(one, confirmation(&[("sub_1", &a), ("sub_2", &b)]));
        assert_ne!(one, confirmation(&[]));
    }
}
