//! Following a subscription and its invoices: what `customer.subscription.*`, `invoice.paid`
//! and `invoice.payment_failed` do to our row of the subscription.
//!
//! The rules, in the order they are applied:
//! 1. A subscription we hold keeps its project and subscriber. One we do not hold yet (an
//!    `updated` may arrive before `created`) is placed by its metadata, and its end user must
//!    be one of that project's.
//! 2. Its project must be this platform's, in the event's mode.
//! 3. An event older than the newest one applied to the row is stale.
//! 4. The tier follows the price Stripe bills when a tier of the project sells it (a plan
//!    change, or a downgrade's paid tier kept until the renewal). Only a subscription we do
//!    not hold yet may take the tier its metadata names; otherwise what was granted stays,
//!    and with nothing granted before, the event is not ours to apply.
//! 5. A paid invoice is revenue, whatever it paid for. A period it paid for (never a
//!    proration's, which runs from a change to the period's end) starts the usage period.
//! 6. A failed invoice turns an active or trialing subscription `past_due`, which loses its
//!    access; an unpaid proration (an upgrade waiting to be paid) changes nothing.

use super::{
    Decision, Effect, Grant, Ignored, Notice, Payment, Period, Plan, StoredSubscription, Tier,
};
use crate::stripe::events::{SubscriptionTerms, is_stale, metadata};
use crate::subscription::Status;

/// What a subscription event decides on, besides its terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts<'a> {
    /// Our row of the subscription, if we hold it.
    pub held: Option<StoredSubscription<'a>>,
    /// Whether the project (the row's, else the metadata's) is this platform's in the event's
    /// mode.
    pub owned: bool,
    /// Whether the end user the metadata names is the metadata's project's.
    pub end_user_exists: bool,
    /// The project's tier that sells the price Stripe bills (or the paid tier a downgrade
    /// keeps).
    pub by_terms: Option<Tier<'a>>,
    /// The project's tier the metadata names.
    pub by_metadata: Option<Tier<'a>>,
}

/// `customer.subscription.created`, `updated` or `deleted` (its terms then say `canceled`):
/// rules 1–4. `event_ms` is the event's `created`.
#[must_use]
pub fn changed<'a>(terms: &'a SubscriptionTerms, facts: &Facts<'a>, event_ms: i64) -> Decision<'a> {
    let (project_id, end_user_id, granted) = match facts.held {
        Some(row) => (
            row.project_id,
            row.end_user_id,
            Some((row.tier_id, row.plan)),
        ),
        None => {
            let (Some(project), Some(end_user)) = (
                terms.metadata.get(metadata::PROJECT),
                terms.metadata.get(metadata::END_USER),
            ) else {
                return Decision::Ignore(Ignored::NoMetadata, None);
            };
            (project.as_str(), end_user.as_str(), None)
        }
    };
    let ignore = |why| Decision::Ignore(why, Some(project_id));
    if !facts.owned {
        return ignore(Ignored::ForeignProject);
    }
    if facts.held.is_none() && !facts.end_user_exists {
        return ignore(Ignored::ForeignEndUser);
    }
    if is_stale(event_ms, facts.held.map(|h| h.stripe_event_at)) {
        return ignore(Ignored::Stale);
    }
    let by_metadata = facts
        .by_metadata
        .filter(|_| facts.by_terms.is_none() && facts.held.is_none());
    let (tier_id, plan) = match (facts.by_terms.or(by_metadata), granted) {
        (Some(tier), _) => (Some(tier.id), tier.name),
        (None, Some(granted)) => granted,
        (None, None) => return ignore(Ignored::NoTierForPrice),
    };
    let grant = Grant {
        project_id,
        end_user_id,
        tier_id,
        plan,
        terms,
    };
    let had_access = facts.held.is_some_and(|h| h.status.gives_access());
    let mut plan = Plan::new(project_id, vec![Effect::Subscribe(grant)]);
    plan.notices = vec![Notice::Subscription(grant, had_access)];
    plan.allowance_of = Some(end_user_id);
    Decision::Apply(plan)
}

/// An invoice of a subscription, as the rules read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invoice<'a> {
    /// `in_…`
    pub id: &'a str,
    /// The subscription it bills (`sub_…`).
    pub subscription_id: &'a str,
    /// Minor units paid.
    pub amount_paid: i64,
    /// Lower-case ISO currency, when stated.
    pub currency: Option<&'a str>,
    /// The period its lines bill, in Unix seconds as Stripe states them.
    pub service: Option<(i64, i64)>,
    /// Whether it bills a proration (a mid-period change).
    pub proration: bool,
}

/// Our row of the invoiced subscription, when it is this platform's (rule 2).
fn invoiced<'a>(
    held: Option<StoredSubscription<'a>>,
    owned: bool,
) -> Result<StoredSubscription<'a>, Decision<'a>> {
    let Some(row) = held else {
        return Err(Decision::Ignore(Ignored::NotInvoiced, None));
    };
    if !owned {
        return Err(Decision::Ignore(
            Ignored::ForeignProject,
            Some(row.project_id),
        ));
    }
    Ok(row)
}

/// `invoice.paid`: rules 2 and 5.
#[must_use]
pub fn invoice_paid<'a>(
    invoice: &Invoice<'a>,
    held: Option<StoredSubscription<'a>>,
    owned: bool,
) -> Decision<'a> {
    let row = match invoiced(held, owned) {
        Ok(row) => row,
        Err(decision) => return decision,
    };
    let revenue = match invoice.currency {
        Some(currency) if invoice.amount_paid > 0 => Some(Effect::RecordPayment(Payment {
            project_id: row.project_id,
            subscription_id: invoice.subscription_id,
            invoice_id: invoice.id,
            amount: invoice.amount_paid,
            currency,
        })),
        _ => None,
    };
    let service = invoice.service.filter(|_| !invoice.proration);
    let Some((start, end)) = service else {
        return match revenue {
            Some(paid) => Decision::Apply(Plan::new(row.project_id, vec![paid])),
            None => Decision::Ignore(Ignored::NothingToApply, Some(row.project_id)),
        };
    };
    let period = Period {
        start: start.saturating_mul(1000),
        end: end.saturating_mul(1000),
    };
    let mut effects = vec![Effect::PayPeriod(invoice.subscription_id, period)];
    effects.extend(revenue);
    let mut plan = Plan::new(row.project_id, effects);
    plan.notices = vec![Notice::SubscriptionRow(
        invoice.subscription_id,
        row.status,
        Some(period),
        None,
    )];
    plan.allowance_of = Some(row.end_user_id);
    Decision::Apply(plan)
}

/// `invoice.payment_failed`: rules 2, 3 and 6.
#[must_use]
pub fn invoice_failed<'a>(
    invoice: &Invoice<'a>,
    held: Option<StoredSubscription<'a>>,
    owned: bool,
    event_ms: i64,
) -> Decision<'a> {
    let row = match invoiced(held, owned) {
        Ok(row) => row,
        Err(decision) => return decision,
    };
    if invoice.proration {
        return Decision::Ignore(Ignored::NothingToApply, Some(row.project_id));
    }
    if is_stale(event_ms, Some(row.stripe_event_at)) {
        return Decision::Ignore(Ignored::Stale, Some(row.project_id));
    }
    let mut plan = Plan::new(
        row.project_id,
        vec![Effect::MarkPastDue(invoice.subscription_id)],
    );
    // The UPDATE moves only an active or trialing row, and that row loses its access.
    plan.notices = vec![Notice::SubscriptionRow(
        invoice.subscription_id,
        Status::PastDue,
        None,
        row.status.gives_access().then_some(false),
    )];
    plan.allowance_of = Some(row.end_user_id);
    Decision::Apply(plan)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{applied, pro_grant, terms};
    use super::*;
    use crate::stripe::events::Outcome;

    const PRO: Tier<'static> = Tier {
        id: "tier_pro",
        name: "pro",
    };
    const MAX: Tier<'static> = Tier {
        id: "tier_max",
        name: "max",
    };

    const OURS: &[(&str, &str)] = &[(metadata::PROJECT, "proj_a"), (metadata::END_USER, "eu_1")];

    fn stored(status: Status) -> StoredSubscription<'static> {
        StoredSubscription {
            project_id: "proj_a",
            end_user_id: "eu_1",
            tier_id: Some("tier_max"),
            plan: "max",
            status,
            stripe_event_at: 500,
        }
    }

    fn facts(held: Option<StoredSubscription<'static>>) -> Facts<'static> {
        Facts {
            held,
            owned: true,
            end_user_exists: true,
            by_terms: Some(PRO),
            by_metadata: None,
        }
    }

    #[test]
    fn a_subscription_event_grants_the_tier_its_price_sells_and_reports_the_access_it_had() {
        // Arrange: no row yet, then a row in each status; the event is newer than the row.
        let terms = terms(Status::Active, OURS);
        let mut held: Vec<Option<StoredSubscription<'_>>> = vec![None];
        held.extend(Status::ALL.map(|s| Some(stored(s))));
        for row in held {
            // Act
            let plan = applied(changed(&terms, &facts(row), 600));
            // Assert
            let grant = pro_grant(&terms);
            let had_access = row.is_some_and(|r| r.status.gives_access());
            assert_eq!(plan.effects, vec![Effect::Subscribe(grant)], "{row:?}");
            assert_eq!(plan.notices, vec![Notice::Subscription(grant, had_access)]);
            assert_eq!(plan.allowance_of, Some("eu_1"));
            assert_eq!(plan.push, None);
        }
    }

    #[test]
    fn a_subscription_event_is_ignored_when_it_is_not_ours_or_older_than_the_row() {
        let ours = terms(Status::Active, OURS);
        let bare = terms(Status::Active, &[]);
        let cases: [(&SubscriptionTerms, Facts<'_>, i64, Ignored, Option<&str>); 5] = [
            (&bare, facts(None), 600, Ignored::NoMetadata, None),
            (
                &ours,
                Facts {
                    owned: false,
                    ..facts(None)
                },
                600,
                Ignored::ForeignProject,
                Some("proj_a"),
            ),
            (
                &ours,
                Facts {
                    end_user_exists: false,
                    ..facts(None)
                },
                600,
                Ignored::ForeignEndUser,
                Some("proj_a"),
            ),
            (
                &ours,
                facts(Some(stored(Status::Active))),
                499,
                Ignored::Stale,
                Some("proj_a"),
            ),
            (
                &ours,
                Facts {
                    by_terms: None,
                    ..facts(None)
                },
                600,
                Ignored::NoTierForPrice,
                Some("proj_a"),
            ),
        ];
        for (terms, facts, at, why, project) in cases {
            assert_eq!(
                changed(terms, &facts, at),
                Decision::Ignore(why, project),
                "{why:?}"
            );
        }
        assert_eq!(Ignored::Stale.outcome(), Outcome::Stale);
        assert_eq!(Ignored::NoMetadata.outcome(), Outcome::Unrelated);
    }

    #[test]
    fn an_event_as_old_as_the_row_is_applied_again_and_the_held_row_keeps_its_owner() {
        // The metadata names another project: a held row's own project and subscriber win.
        let moved = terms(
            Status::Active,
            &[(metadata::PROJECT, "proj_b"), (metadata::END_USER, "eu_9")],
        );
        let plan = applied(changed(&moved, &facts(Some(stored(Status::Active))), 500));
        assert_eq!(plan.project_id, "proj_a");
        assert_eq!(plan.allowance_of, Some("eu_1"));
    }

    #[test]
    fn the_tier_follows_the_price_then_the_metadata_of_a_new_row_then_what_was_granted() {
        let terms = terms(Status::Active, OURS);
        // (held, by price, by metadata) → the tier and plan granted.
        let cases = [
            (None, Some(PRO), Some(MAX), (Some("tier_pro"), "pro")),
            (None, None, Some(MAX), (Some("tier_max"), "max")),
            (
                Some(stored(Status::Active)),
                Some(PRO),
                None,
                (Some("tier_pro"), "pro"),
            ),
            // A held row never takes the metadata's tier: it keeps its grant.
            (
                Some(stored(Status::Active)),
                None,
                Some(PRO),
                (Some("tier_max"), "max"),
            ),
            (
                Some(StoredSubscription {
                    tier_id: None,
                    plan: "legacy",
                    ..stored(Status::Active)
                }),
                None,
                None,
                (None, "legacy"),
            ),
        ];
        for (held, by_terms, by_metadata, (tier_id, plan)) in cases {
            let facts = Facts {
                held,
                by_terms,
                by_metadata,
                ..facts(None)
            };
            let decided = applied(changed(&terms, &facts, 600));
            let Some(Effect::Subscribe(grant)) = decided.effects.first().copied() else {
                panic!("no grant: {decided:?}");
            };
            assert_eq!(
                (grant.tier_id, grant.plan),
                (tier_id, plan),
                "{held:?} {by_terms:?}"
            );
        }
    }

    fn invoice(amount_paid: i64, service: Option<(i64, i64)>, proration: bool) -> Invoice<'static> {
        Invoice {
            id: "in_1",
            subscription_id: "sub_1",
            amount_paid,
            currency: Some("usd"),
            service,
            proration,
        }
    }

    #[test]
    fn a_paid_invoice_is_revenue_and_a_paid_period_starts_the_usage_period() {
        let period = Period {
            start: 10_000,
            end: 20_000,
        };
        let payment = Effect::RecordPayment(Payment {
            project_id: "proj_a",
            subscription_id: "sub_1",
            invoice_id: "in_1",
            amount: 2900,
            currency: "usd",
        });
        for status in Status::ALL {
            let plan = applied(invoice_paid(
                &invoice(2900, Some((10, 20)), false),
                Some(stored(status)),
                true,
            ));
            assert_eq!(
                plan.effects,
                vec![Effect::PayPeriod("sub_1", period), payment]
            );
            assert_eq!(
                plan.notices,
                vec![Notice::SubscriptionRow("sub_1", status, Some(period), None)]
            );
            assert_eq!(plan.allowance_of, Some("eu_1"));
        }
    }

    #[test]
    fn a_proration_or_a_free_invoice_starts_no_period() {
        let row = Some(stored(Status::Active));
        // A paid proration is revenue only.
        let plan = applied(invoice_paid(&invoice(700, Some((10, 20)), true), row, true));
        assert!(matches!(plan.effects.as_slice(), [Effect::RecordPayment(p)] if p.amount == 700));
        assert!(plan.notices.is_empty());
        assert_eq!(plan.allowance_of, None);
        // A free period still starts it; nothing paid and no period changes nothing.
        let free = applied(invoice_paid(&invoice(0, Some((10, 20)), false), row, true));
        assert_eq!(free.effects.len(), 1);
        assert_eq!(
            invoice_paid(&invoice(0, None, false), row, true),
            Decision::Ignore(Ignored::NothingToApply, Some("proj_a"))
        );
    }

    #[test]
    fn an_invoice_of_a_subscription_that_is_not_ours_changes_nothing() {
        let paid = invoice(2900, Some((10, 20)), false);
        for (held, owned, expected) in [
            (None, true, Decision::Ignore(Ignored::NotInvoiced, None)),
            (
                Some(stored(Status::Active)),
                false,
                Decision::Ignore(Ignored::ForeignProject, Some("proj_a")),
            ),
        ] {
            assert_eq!(invoice_paid(&paid, held, owned), expected.clone());
            assert_eq!(invoice_failed(&paid, held, owned, 600), expected);
        }
    }

    #[test]
    fn a_failed_renewal_makes_the_row_past_due_and_revokes_access_only_where_there_was_some() {
        for status in Status::ALL {
            let plan = applied(invoice_failed(
                &invoice(0, Some((10, 20)), false),
                Some(stored(status)),
                true,
                600,
            ));
            assert_eq!(plan.effects, vec![Effect::MarkPastDue("sub_1")]);
            let revoked = status.gives_access().then_some(false);
            assert_eq!(
                plan.notices,
                vec![Notice::SubscriptionRow(
                    "sub_1",
                    Status::PastDue,
                    None,
                    revoked
                )],
                "{status:?}"
            );
        }
    }

    #[test]
    fn a_failed_proration_or_a_late_failure_changes_nothing() {
        let row = Some(stored(Status::Active));
        assert_eq!(
            invoice_failed(&invoice(0, None, true), row, true, 600),
            Decision::Ignore(Ignored::NothingToApply, Some("proj_a"))
        );
        assert_eq!(
            invoice_failed(&invoice(0, None, false), row, true, 499),
            Decision::Ignore(Ignored::Stale, Some("proj_a"))
        );
    }
}
