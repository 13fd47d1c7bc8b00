//! Settling a checkout: what `checkout.session.completed` (or `async_payment_succeeded`),
//! `async_payment_failed` and `expired` do to the session they name.
//!
//! The rules, in the order they are applied:
//! 1. A session that is not ours (another platform's, another account's) changes nothing.
//! 2. A settled session (applied, or its payment failed) changes nothing: the event is stale.
//!    So is an unpaid completion of a session already waiting for its delayed payment.
//! 3. Only money fulfils. A paid completion pays the cart's order (its stock committed, its
//!    products granted) or grants the subscription's tier; an unpaid one (a delayed method)
//!    waits with the cart's stock held and nothing granted.
//! 4. A cart whose hold lapsed before Stripe's word came takes its stock again when every
//!    product still has it; a paid cart that cannot needs the developer, and is not granted.
//! 5. A subscription session must name a tier of its own project, and the subscription must
//!    not be another project's. Its terms come from Stripe itself (the event names the
//!    subscription only), and its access follows their status.
//! 6. A failed delayed payment gives a cart's stock back; an expiry gives back only what is
//!    still held. Neither grants anything.

use super::{Decision, Effect, Grant, Ignored, Notice, Plan, Retake, Tier};
use crate::checkout::{LineStatus, SessionKind, SessionStatus};
use crate::stripe::events::SubscriptionTerms;

/// A checkout session as Tollgate stored it, once it is known to be ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session<'a> {
    /// Stripe's `cs_…`.
    pub id: &'a str,
    /// The project it sells for.
    pub project_id: &'a str,
    /// What it sells.
    pub kind: SessionKind,
    /// Where it stands.
    pub status: SessionStatus,
    /// The buyer, when known.
    pub end_user_id: Option<&'a str>,
    /// The tier a subscription session sells.
    pub tier_id: Option<&'a str>,
    /// The order a cart session pays.
    pub order_id: Option<&'a str>,
}

/// Our row of the subscription a session created, when one exists already (an earlier event
/// for it came first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldSubscription<'a> {
    /// The project it belongs to.
    pub project_id: &'a str,
    /// Whether its stored status gives access.
    pub gives_access: bool,
}

/// What a completion decides on, besides the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion<'a> {
    /// Whether Stripe reports it paid (`paid` or `no_payment_required`).
    pub paid: bool,
    /// The payment, for a cart's order.
    pub payment_intent: Option<&'a str>,
    /// The subscription it created, for a subscription session.
    pub subscription_id: Option<&'a str>,
    /// The stock state of each line of the cart's order.
    pub lines: &'a [LineStatus],
    /// The cart's products whose stock cannot cover their lapsed holds.
    pub short: &'a [String],
    /// Whether the cart's order row was found (its events need it).
    pub order_found: bool,
    /// The session's tier, when it is a tier of the session's project.
    pub tier: Option<Tier<'a>>,
    /// Our row of the subscription, if any.
    pub held: Option<HeldSubscription<'a>>,
}

/// `checkout.session.completed` (or `async_payment_succeeded`, a completion now paid):
/// rules 1–5. `terms` are the subscription's as Stripe answered them, once asked.
#[must_use]
pub fn completed<'a>(
    session: Option<Session<'a>>,
    completion: &Completion<'a>,
    terms: Option<&'a SubscriptionTerms>,
) -> Decision<'a> {
    let Some(session) = session else {
        return Decision::Ignore(Ignored::NotOurs, None);
    };
    let paid = completion.paid;
    if session.status.is_settled() || (!paid && session.status == SessionStatus::AwaitingPayment) {
        return Decision::Ignore(Ignored::Stale, Some(session.project_id));
    }
    let (first, push) = if paid {
        (Effect::CompleteSession(session.id), SessionStatus::Complete)
    } else {
        (
            Effect::AwaitSession(session.id),
            SessionStatus::AwaitingPayment,
        )
    };
    match (
        session.kind,
        session.order_id,
        session.end_user_id,
        completion.subscription_id,
    ) {
        (SessionKind::Payment, Some(order_id), _, _) => {
            Decision::Apply(cart_completed(session, order_id, completion, first, push))
        }
        (SessionKind::Subscription, _, Some(end_user_id), Some(subscription_id)) => {
            if session.tier_id.is_none() {
                return Decision::Ignore(Ignored::NoTier, Some(session.project_id));
            }
            let Some(tier) = completion.tier else {
                return Decision::Ignore(Ignored::ForeignTier, Some(session.project_id));
            };
            if completion
                .held
                .is_some_and(|h| h.project_id != session.project_id)
            {
                return Decision::Ignore(Ignored::ForeignSubscription, Some(session.project_id));
            }
            let Some(terms) = terms else {
                return Decision::FetchTerms(subscription_id);
            };
            let grant = Grant {
                project_id: session.project_id,
                end_user_id,
                tier_id: Some(tier.id),
                plan: tier.name,
                terms,
            };
            let had_access = completion.held.is_some_and(|h| h.gives_access);
            let effects = vec![
                first,
                Effect::Subscribe(grant),
                Effect::RecordCustomer(grant),
            ];
            let mut plan = Plan::new(session.project_id, effects);
            plan.notices = vec![Notice::Subscription(grant, had_access)];
            plan.push = Some((session.id, push));
            plan.allowance_of = Some(end_user_id);
            Decision::Apply(plan)
        }
        _ => Decision::Ignore(Ignored::Incomplete, Some(session.project_id)),
    }
}

/// Rules 3 and 4 for a cart's order.
fn cart_completed<'a>(
    session: Session<'a>,
    order_id: &'a str,
    completion: &Completion<'a>,
    first: Effect<'a>,
    push: SessionStatus,
) -> Plan<'a> {
    let lapsed = completion.lines.contains(&LineStatus::Released);
    let retake = if lapsed && completion.short.is_empty() {
        Retake::Lapsed
    } else {
        Retake::No
    };
    let payment_intent = completion.payment_intent;
    let (effect, notice) = if !completion.paid {
        (Effect::AwaitOrder(order_id, retake), None)
    } else if completion.short.is_empty() {
        (
            Effect::PayOrder(order_id, retake, payment_intent),
            Some(Notice::OrderPaid),
        )
    } else {
        (
            Effect::OrderNeedsAttention(order_id, payment_intent),
            Some(Notice::OrderNeedsAttention),
        )
    };
    let mut plan = Plan::new(session.project_id, vec![first, effect]);
    plan.push = Some((session.id, push));
    plan.notices = notice
        .filter(|_| completion.order_found)
        .into_iter()
        .collect();
    plan
}

/// `checkout.session.async_payment_failed`: rules 1, 2 and 6.
#[must_use]
pub fn payment_failed(session: Option<Session<'_>>) -> Decision<'_> {
    let Some(session) = session else {
        return Decision::Ignore(Ignored::NotOurs, None);
    };
    if session.status.is_settled() {
        return Decision::Ignore(Ignored::Stale, Some(session.project_id));
    }
    let effect = match (session.kind, session.order_id) {
        (SessionKind::Payment, Some(order_id)) => Effect::FailOrder(order_id),
        _ => Effect::FailSession(session.id),
    };
    Decision::Apply(settled(session, effect, SessionStatus::Failed))
}

/// `checkout.session.expired`: rules 1 and 6. An expiry is applied whatever the stored state:
/// the SQL of each effect leaves a completed session and committed stock as they are.
#[must_use]
pub fn expired(session: Option<Session<'_>>) -> Decision<'_> {
    let Some(session) = session else {
        return Decision::Ignore(Ignored::NotOurs, None);
    };
    let effect = match (session.kind, session.order_id) {
        (SessionKind::Payment, Some(order_id)) => Effect::ReleaseOrder(order_id),
        _ => Effect::ExpireSession(session.id),
    };
    Decision::Apply(settled(session, effect, SessionStatus::Expired))
}

/// A session made final by one effect, its clients told.
fn settled<'a>(session: Session<'a>, effect: Effect<'a>, status: SessionStatus) -> Plan<'a> {
    let mut plan = Plan::new(session.project_id, vec![effect]);
    plan.push = Some((session.id, status));
    plan
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{applied, pro_grant, terms};
    use super::*;
    use crate::stripe::events::Outcome;
    use crate::subscription::Status;
    use SessionStatus::{AwaitingPayment, Complete, Expired, Failed, Open};

    const ALL_STATUSES: [SessionStatus; 5] = [Open, AwaitingPayment, Complete, Failed, Expired];

    fn cart(status: SessionStatus) -> Session<'static> {
        Session {
            id: "cs_cart",
            project_id: "proj_a",
            kind: SessionKind::Payment,
            status,
            end_user_id: None,
            tier_id: None,
            order_id: Some("ord_1"),
        }
    }

    fn subscription(status: SessionStatus) -> Session<'static> {
        Session {
            id: "cs_sub",
            project_id: "proj_a",
            kind: SessionKind::Subscription,
            status,
            end_user_id: Some("eu_1"),
            tier_id: Some("tier_pro"),
            order_id: None,
        }
    }

    const PRO: Tier<'static> = Tier {
        id: "tier_pro",
        name: "pro",
    };

    fn paid_cart(lines: &'static [LineStatus]) -> Completion<'static> {
        Completion {
            paid: true,
            payment_intent: Some("pi_1"),
            subscription_id: None,
            lines,
            short: &[],
            order_found: true,
            tier: None,
            held: None,
        }
    }

    fn paid_subscription() -> Completion<'static> {
        Completion {
            paid: true,
            payment_intent: None,
            subscription_id: Some("sub_1"),
            lines: &[],
            short: &[],
            order_found: false,
            tier: Some(PRO),
            held: None,
        }
    }

    #[test]
    fn a_session_that_is_not_ours_is_ignored_by_every_checkout_event() {
        let completion = paid_cart(&[LineStatus::Held]);
        for decision in [
            completed(None, &completion, None),
            payment_failed(None),
            expired(None),
        ] {
            assert_eq!(decision, Decision::Ignore(Ignored::NotOurs, None));
        }
    }

    #[test]
    fn a_completion_is_stale_on_a_settled_session_and_an_unpaid_one_on_a_waiting_session() {
        // Arrange: every stored status against a paid and an unpaid completion.
        for status in ALL_STATUSES {
            for paid in [true, false] {
                let completion = Completion {
                    paid,
                    ..paid_cart(&[LineStatus::Held])
                };
                // Act
                let decision = completed(Some(cart(status)), &completion, None);
                // Assert
                let stale = status.is_settled() || (!paid && status == AwaitingPayment);
                assert_eq!(
                    decision == Decision::Ignore(Ignored::Stale, Some("proj_a")),
                    stale,
                    "{status:?} paid={paid}: {decision:?}"
                );
            }
        }
    }

    #[test]
    fn a_paid_cart_completes_its_session_pays_its_order_and_reports_it() {
        for status in [Open, AwaitingPayment, Expired] {
            let plan = applied(completed(
                Some(cart(status)),
                &paid_cart(&[LineStatus::Held, LineStatus::Held]),
                None,
            ));
            assert_eq!(
                plan.effects,
                vec![
                    Effect::CompleteSession("cs_cart"),
                    Effect::PayOrder("ord_1", Retake::No, Some("pi_1")),
                ],
                "{status:?}"
            );
            assert_eq!(plan.notices, vec![Notice::OrderPaid]);
            assert_eq!(plan.push, Some(("cs_cart", Complete)));
            assert_eq!(plan.allowance_of, None);
        }
    }

    #[test]
    fn an_unpaid_cart_waits_with_its_stock_held_and_grants_nothing() {
        let completion = Completion {
            paid: false,
            ..paid_cart(&[LineStatus::Held])
        };
        let plan = applied(completed(Some(cart(Open)), &completion, None));
        assert_eq!(
            plan.effects,
            vec![
                Effect::AwaitSession("cs_cart"),
                Effect::AwaitOrder("ord_1", Retake::No),
            ]
        );
        assert!(plan.notices.is_empty());
        assert_eq!(plan.push, Some(("cs_cart", AwaitingPayment)));
    }

    #[test]
    fn a_lapsed_hold_is_taken_again_when_stock_covers_it_and_needs_the_developer_when_not() {
        let short = vec!["poster".to_owned()];
        // (lines, short of stock, paid) → the order's effect and its notice.
        type Case<'a> = (&'a [LineStatus], bool, bool, Effect<'a>, Option<Notice<'a>>);
        let cases: [Case<'_>; 5] = [
            (
                &[LineStatus::Released, LineStatus::Held],
                false,
                true,
                Effect::PayOrder("ord_1", Retake::Lapsed, Some("pi_1")),
                Some(Notice::OrderPaid),
            ),
            (
                &[LineStatus::Released],
                true,
                true,
                Effect::OrderNeedsAttention("ord_1", Some("pi_1")),
                Some(Notice::OrderNeedsAttention),
            ),
            (
                &[LineStatus::Released],
                false,
                false,
                Effect::AwaitOrder("ord_1", Retake::Lapsed),
                None,
            ),
            (
                &[LineStatus::Released],
                true,
                false,
                Effect::AwaitOrder("ord_1", Retake::No),
                None,
            ),
            (
                &[LineStatus::Committed],
                false,
                true,
                Effect::PayOrder("ord_1", Retake::No, Some("pi_1")),
                Some(Notice::OrderPaid),
            ),
        ];
        for (lines, is_short, paid, effect, notice) in cases {
            let completion = Completion {
                paid,
                lines,
                short: if is_short { &short } else { &[] },
                ..paid_cart(&[])
            };
            let plan = applied(completed(Some(cart(Open)), &completion, None));
            assert_eq!(
                plan.effects.get(1),
                Some(&effect),
                "{lines:?} short={is_short}"
            );
            assert_eq!(plan.notices, notice.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_order_whose_row_is_missing_is_still_paid_but_reports_nothing() {
        let completion = Completion {
            order_found: false,
            ..paid_cart(&[LineStatus::Held])
        };
        let plan = applied(completed(Some(cart(Open)), &completion, None));
        assert_eq!(plan.effects.len(), 2);
        assert!(plan.notices.is_empty());
    }

    #[test]
    fn a_subscription_session_asks_stripe_for_its_terms_before_granting() {
        let decision = completed(Some(subscription(Open)), &paid_subscription(), None);
        assert_eq!(decision, Decision::FetchTerms("sub_1"));
    }

    #[test]
    fn a_subscription_with_its_terms_is_granted_and_its_buyer_s_allowance_changes() {
        let terms = terms(Status::Active, &[]);
        for (held, had_access) in [
            (None, false),
            (
                Some(HeldSubscription {
                    project_id: "proj_a",
                    gives_access: true,
                }),
                true,
            ),
            (
                Some(HeldSubscription {
                    project_id: "proj_a",
                    gives_access: false,
                }),
                false,
            ),
        ] {
            let completion = Completion {
                held,
                ..paid_subscription()
            };
            let plan = applied(completed(
                Some(subscription(Open)),
                &completion,
                Some(&terms),
            ));
            let grant = pro_grant(&terms);
            assert_eq!(
                plan.effects,
                vec![
                    Effect::CompleteSession("cs_sub"),
                    Effect::Subscribe(grant),
                    Effect::RecordCustomer(grant),
                ]
            );
            assert_eq!(plan.notices, vec![Notice::Subscription(grant, had_access)]);
            assert_eq!(plan.allowance_of, Some("eu_1"));
            assert_eq!(plan.push, Some(("cs_sub", Complete)));
        }
    }

    #[test]
    fn a_subscription_session_missing_what_it_needs_is_ignored_before_stripe_is_asked() {
        let foreign = HeldSubscription {
            project_id: "proj_b",
            gives_access: true,
        };
        let cases: [(Session<'_>, Completion<'_>, Ignored); 5] = [
            (
                Session {
                    tier_id: None,
                    ..subscription(Open)
                },
                paid_subscription(),
                Ignored::NoTier,
            ),
            (
                subscription(Open),
                Completion {
                    tier: None,
                    ..paid_subscription()
                },
                Ignored::ForeignTier,
            ),
            (
                subscription(Open),
                Completion {
                    held: Some(foreign),
                    ..paid_subscription()
                },
                Ignored::ForeignSubscription,
            ),
            (
                Session {
                    end_user_id: None,
                    ..subscription(Open)
                },
                paid_subscription(),
                Ignored::Incomplete,
            ),
            (
                subscription(Open),
                Completion {
                    subscription_id: None,
                    ..paid_subscription()
                },
                Ignored::Incomplete,
            ),
        ];
        for (session, completion, why) in cases {
            assert_eq!(
                completed(Some(session), &completion, None),
                Decision::Ignore(why, Some("proj_a")),
                "{why:?}"
            );
            assert_eq!(why.outcome(), Outcome::Unrelated);
        }
    }

    #[test]
    fn a_cart_session_without_its_order_is_ignored() {
        let session = Session {
            order_id: None,
            ..cart(Open)
        };
        assert_eq!(
            completed(Some(session), &paid_cart(&[]), None),
            Decision::Ignore(Ignored::Incomplete, Some("proj_a"))
        );
    }

    #[test]
    fn a_failed_payment_gives_a_cart_s_stock_back_unless_the_session_is_settled() {
        for status in ALL_STATUSES {
            for (session, effect) in [
                (cart(status), Effect::FailOrder("ord_1")),
                (subscription(status), Effect::FailSession("cs_sub")),
            ] {
                let decision = payment_failed(Some(session));
                if status.is_settled() {
                    assert_eq!(
                        decision,
                        Decision::Ignore(Ignored::Stale, Some("proj_a")),
                        "{status:?}"
                    );
                } else {
                    let plan = applied(decision);
                    assert_eq!(plan.effects, vec![effect], "{status:?}");
                    assert_eq!(plan.push.map(|(_, s)| s), Some(Failed));
                    assert!(plan.notices.is_empty());
                }
            }
        }
    }

    #[test]
    fn an_expiry_is_handed_to_its_guarded_effects_in_every_stored_state() {
        for status in ALL_STATUSES {
            for (session, effect) in [
                (cart(status), Effect::ReleaseOrder("ord_1")),
                (subscription(status), Effect::ExpireSession("cs_sub")),
            ] {
                let plan = applied(expired(Some(session)));
                assert_eq!(plan.effects, vec![effect], "{status:?}");
                assert_eq!(plan.push.map(|(_, s)| s), Some(Expired));
                assert_eq!(plan.allowance_of, None);
            }
        }
    }
}
