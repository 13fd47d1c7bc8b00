//! Entitlement drift: where a subscription row Tollgate keeps disagrees with the provider's
//! subscription, which fields differ, and the confirmation value that pins one planned
//! repair to exactly the drift an operator reviewed.

use crate::stripe::events::SubscriptionTerms;
use crate::subscription::Status;
use serde::{Deserialize, Serialize};
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
    pub status: Status,
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
                local: local.status.as_str().into(),
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
        local.status.as_str().into(),
        terms.status.as_str().into(),
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

/// Whose subscriptions one audit call covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every project of one platform (`plt_…`).
    Platform(String),
    /// One project (`prj_…`).
    Project(String),
}

/// One audit call: a target and a page of at most [`PAGE_LIMIT`] subscriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Whose subscriptions.
    pub target: Target,
    /// 1-based page.
    pub page: u32,
}

impl Request {
    /// Exactly one of the two ids, and a page from 1 (default 1).
    ///
    /// # Errors
    /// Field errors naming what is wrong.
    pub fn new(
        platform_id: Option<String>,
        project_id: Option<String>,
        page: Option<u32>,
    ) -> Result<Self, crate::console::FieldErrors> {
        let fail = |field: &str, reason: &str| {
            crate::console::FieldErrors::from([(field.to_owned(), vec![reason.to_owned()])])
        };
        let page = page.unwrap_or(1);
        if !(1..=100_000).contains(&page) {
            return Err(fail("page", "must be a whole number from 1"));
        }
        let target = match (platform_id, project_id) {
            (Some(id), None) if !id.is_empty() => Target::Platform(id),
            (None, Some(id)) if !id.is_empty() => Target::Project(id),
            _ => {
                return Err(fail(
                    "platformId",
                    "give exactly one of platformId and projectId",
                ));
            }
        };
        Ok(Self { target, page })
    }
}

/// The body of `POST /v1/admin/drift/repair`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepairInput {
    /// Audit every project of this platform…
    pub platform_id: Option<String>,
    /// …or this one project.
    pub project_id: Option<String>,
    /// The page of subscriptions (default 1).
    pub page: Option<u32>,
    /// `true` plans only; `false` applies.
    pub dry_run: bool,
    /// The dry run's confirmation; required to apply.
    pub confirmation: Option<String>,
}

impl RepairInput {
    /// The audit to run and, when applying, the confirmation it must match.
    ///
    /// # Errors
    /// Field errors (a bad scope or page, or applying without a confirmation).
    pub fn validate(self) -> Result<(Request, Option<String>), crate::console::FieldErrors> {
        let request = Request::new(self.platform_id, self.project_id, self.page)?;
        match (self.dry_run, self.confirmation) {
            (true, _) => Ok((request, None)),
            (false, Some(c)) if !c.is_empty() => Ok((request, Some(c))),
            (false, _) => Err(crate::console::FieldErrors::from([(
                "confirmation".to_owned(),
                vec!["required when dryRun is false: the value a dry run answered".to_owned()],
            )])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn terms(status: &str, price: &str, end: i64, cancel: bool) -> SubscriptionTerms {
        SubscriptionTerms {
            stripe_subscription_id: "sub_1".into(),
            stripe_customer_id: "cus_1".into(),
            stripe_price_id: price.into(),
            status: Status::parse(status).unwrap_or(Status::Incomplete),
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
            status: Status::Active,
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
    fn a_repair_names_exactly_one_scope_and_applies_only_with_a_confirmation() {
        let input =
            |body: &str| serde_json::from_str::<RepairInput>(body).map(RepairInput::validate);
        let (request, confirm) =
            input(r#"{"projectId":"prj_1","dryRun":false,"confirmation":"ab"}"#)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(request.target, Target::Project("prj_1".into()));
        assert_eq!(request.page, 1);
        assert_eq!(confirm.as_deref(), Some("ab"));
        for (body, field) in [
            (r#"{"dryRun":true}"#, "platformId"),
            (
                r#"{"platformId":"plt_1","projectId":"prj_1","dryRun":true}"#,
                "platformId",
            ),
            (r#"{"platformId":"","dryRun":true}"#, "platformId"),
            (r#"{"platformId":"plt_1","page":0,"dryRun":true}"#, "page"),
            (r#"{"platformId":"plt_1","dryRun":false}"#, "confirmation"),
            (
                r#"{"platformId":"plt_1","dryRun":false,"confirmation":""}"#,
                "confirmation",
            ),
        ] {
            let errors = input(body)
                .unwrap_or_else(|e| panic!("{e}"))
                .expect_err(body);
            assert!(errors.contains_key(field), "{body}: {errors:?}");
        }
        assert!(
            input(r#"{"platformId":"plt_1"}"#).is_err(),
            "dryRun is required"
        );
        assert!(input(r#"{"platformId":"plt_1","dryRun":true,"x":1}"#).is_err());
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
