//! Subscription writes as plans: what a cancel, resume or tier change asks of Stripe, decided
//! from the body, the subscription Tollgate holds and the one Stripe answers, with no I/O.
//!
//! The rules, in the order [`plan`] applies them:
//! 1. A subscription Stripe reports `canceled` has nothing to change: a resume is refused as
//!    not canceling, anything else as no subscription.
//! 2. A cancel at the period's end of a subscription already set to end asks nothing again
//!    (the same answer, so a retry is harmless); an immediate cancel always ends it now.
//! 3. A resume needs a subscription set to end.
//! 4. A change needs the target tier priced at Stripe, and Stripe billing the price our row
//!    applied last: otherwise an accepted change's webhook is still on its way
//!    (`change_pending`), and a second change would race it.
//! 5. Changing to the price already billed is refused. Back to the tier in force during a
//!    scheduled downgrade reverts the schedule (nothing billed); a dearer tier is an upgrade,
//!    paid first; anything else is a downgrade at the period's end, the paid tier kept.

use crate::console::FieldErrors;
use crate::stripe::calls::{PriceChange, SubscriptionUpdate};
use serde::Deserialize;

/// A subscription's state as Stripe words it and Tollgate stores it
/// (`subscriptions.status`), parsed once where it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, its first payment not yet made.
    Incomplete,
    /// Its first payment never came; Stripe gave it up.
    IncompleteExpired,
    /// In its free trial.
    Trialing,
    /// Paid and in force.
    Active,
    /// A renewal failed; Stripe is retrying it.
    PastDue,
    /// Ended.
    Canceled,
    /// Retries ran out unpaid.
    Unpaid,
    /// Its trial ended without a payment method; it bills nothing until resumed.
    Paused,
}

impl Status {
    /// Every status, in Stripe's lifecycle order.
    pub const ALL: [Self; 8] = [
        Self::Incomplete,
        Self::IncompleteExpired,
        Self::Trialing,
        Self::Active,
        Self::PastDue,
        Self::Canceled,
        Self::Unpaid,
        Self::Paused,
    ];

    /// The stored (and Stripe's) word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Unpaid => "unpaid",
            Self::Paused => "paused",
        }
    }

    /// The status Stripe's word names, if it is one of ours.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Whether the subscription gives its tier's access (metering counts by it): only while
    /// trialing or paid. A renewal being retried (`past_due`) already does not.
    #[must_use]
    pub const fn gives_access(self) -> bool {
        matches!(self, Self::Trialing | Self::Active)
    }
}

/// Which subscription route was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `…/subscription/cancel`
    Cancel,
    /// `…/subscription/resume`
    Resume,
    /// `…/subscription/change`
    Change,
}

impl Route {
    /// The step's name in idempotency scopes and Stripe operation ids.
    #[must_use]
    pub const fn step(self) -> &'static str {
        match self {
            Self::Cancel => "subscription-cancel",
            Self::Resume => "subscription-resume",
            Self::Change => "subscription-change",
        }
    }

    /// The audit trail's name for what was asked of the provider.
    #[must_use]
    pub const fn audited(self) -> &'static str {
        match self {
            Self::Cancel => "subscription.cancel_requested",
            Self::Resume => "subscription.resume_requested",
            Self::Change => "subscription.change_requested",
        }
    }
}

/// A write's body: `{immediately}` for cancel, `{tier}` for change, nothing for resume.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WriteInput {
    /// End it now rather than at the period's end (cancel only; secret key only).
    pub immediately: Option<bool>,
    /// The tier to move to, by name or id (change only).
    pub tier: Option<String>,
}

/// What a valid body asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// End the subscription, now or at the period's end.
    Cancel {
        /// Now.
        immediately: bool,
    },
    /// Keep a subscription set to end.
    Resume,
    /// Move to the named tier.
    Change {
        /// A tier's name or id.
        tier: String,
    },
}

impl Write {
    /// The route this write came by.
    #[must_use]
    pub const fn route(&self) -> Route {
        match self {
            Self::Cancel { .. } => Route::Cancel,
            Self::Resume => Route::Resume,
            Self::Change { .. } => Route::Change,
        }
    }

    /// Whether it ends the subscription now.
    #[must_use]
    pub const fn immediately(&self) -> bool {
        matches!(self, Self::Cancel { immediately: true })
    }
}

fn refused(field: &str, reason: &str) -> FieldErrors {
    FieldErrors::from([(field.to_owned(), vec![reason.to_owned()])])
}

impl WriteInput {
    /// Checks the body fits the route.
    ///
    /// # Errors
    /// The field that does not belong, or the missing tier.
    pub fn validate(self, route: Route) -> Result<Write, FieldErrors> {
        match (route, self.immediately, self.tier) {
            (Route::Cancel, _, Some(_)) => Err(refused("tier", "is for a change, not a cancel")),
            (Route::Cancel, immediately, None) => Ok(Write::Cancel {
                immediately: immediately.unwrap_or(false),
            }),
            (Route::Resume, None, None) => Ok(Write::Resume),
            (Route::Resume, _, _) => Err(refused("body", "resume takes no fields")),
            (Route::Change, Some(_), _) => {
                Err(refused("immediately", "is for a cancel, not a change"))
            }
            (Route::Change, None, None) => Err(refused("tier", "is required")),
            (Route::Change, None, Some(tier)) => Ok(Write::Change { tier }),
        }
    }
}

/// The subscription as Tollgate last applied it from Stripe's webhooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held<'a> {
    /// The tier granted.
    pub tier_id: Option<&'a str>,
    /// The price applied last.
    pub price_id: Option<&'a str>,
}

/// The subscription as Stripe answers it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live<'a> {
    /// Stripe's status.
    pub status: &'a str,
    /// Whether it ends at the period's end.
    pub cancel_at_period_end: bool,
    /// The billed item: its id, price and unit amount (minor units).
    pub item: Option<(&'a str, &'a str, i64)>,
    /// The period's end (Unix seconds).
    pub period_end: Option<i64>,
}

/// The tier a change moves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// `tier_…`
    pub tier_id: &'a str,
    /// Minor units per interval.
    pub price: i64,
    /// Its Stripe price (none until the project's Stripe account is connected).
    pub stripe_price_id: Option<&'a str>,
}

/// What to ask of Stripe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan<'a> {
    /// End the subscription now.
    CancelNow,
    /// Ask nothing: it is already as asked (a cancel of one already set to end).
    AsItIs,
    /// Update it.
    Update(SubscriptionUpdate<'a>),
}

/// Why a write cannot be planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Stripe reports it canceled.
    NoSubscription,
    /// A resume of a subscription not set to end.
    NotCanceling,
    /// The target tier has no Stripe price: the project's account is not connected.
    NotConnected,
    /// Stripe bills another price than the one applied: a change's webhook is on its way.
    ChangePending,
    /// The target is the price already billed.
    AlreadySubscribed,
    /// A change without a target tier.
    TierRequired,
}

/// Plans `write` against the subscription held and live (see the module's rules).
///
/// # Errors
/// The [`Refusal`] the rules give.
pub fn plan<'a>(
    write: &Write,
    held: Held<'a>,
    live: Live<'a>,
    target: Option<Target<'a>>,
) -> Result<Plan<'a>, Refusal> {
    if live.status == "canceled" {
        return Err(match write {
            Write::Resume => Refusal::NotCanceling,
            _ => Refusal::NoSubscription,
        });
    }
    match write {
        Write::Cancel { immediately: true } => Ok(Plan::CancelNow),
        Write::Cancel { .. } if live.cancel_at_period_end => Ok(Plan::AsItIs),
        Write::Cancel { .. } => Ok(Plan::Update(SubscriptionUpdate::CancelAtPeriodEnd(true))),
        Write::Resume if !live.cancel_at_period_end => Err(Refusal::NotCanceling),
        Write::Resume => Ok(Plan::Update(SubscriptionUpdate::CancelAtPeriodEnd(false))),
        Write::Change { .. } => {
            let target = target.ok_or(Refusal::TierRequired)?;
            let price = target.stripe_price_id.ok_or(Refusal::NotConnected)?;
            let (item, billed, amount) = live.item.ok_or(Refusal::NoSubscription)?;
            if held.price_id != Some(billed) {
                return Err(Refusal::ChangePending);
            }
            if billed == price {
                return Err(Refusal::AlreadySubscribed);
            }
            let when = if held.tier_id == Some(target.tier_id) {
                PriceChange::Revert
            } else if target.price > amount {
                PriceChange::PaidFirst
            } else {
                PriceChange::AtRenewal {
                    paid_tier: held.tier_id.unwrap_or_default(),
                    until: live.period_end.unwrap_or(0),
                }
            };
            Ok(Plan::Update(SubscriptionUpdate::Price {
                item,
                price,
                when,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stored_subscription_status_reads_back_as_itself_and_only_trialing_or_active_gives_access()
    {
        use super::Status;
        for (status, word, access) in [
            (Status::Incomplete, "incomplete", false),
            (Status::IncompleteExpired, "incomplete_expired", false),
            (Status::Trialing, "trialing", true),
            (Status::Active, "active", true),
            (Status::PastDue, "past_due", false),
            (Status::Canceled, "canceled", false),
            (Status::Unpaid, "unpaid", false),
            (Status::Paused, "paused", false),
        ] {
            assert_eq!(Status::parse(word), Some(status));
            assert_eq!(status.as_str(), word);
            assert_eq!(status.gives_access(), access, "{word}");
            let stored: Result<Status, _> = serde_json::from_value(serde_json::json!(word));
            assert_eq!(stored.ok(), Some(status));
        }
        for bad in ["", "Active", "exploded", "past due"] {
            assert_eq!(Status::parse(bad), None, "{bad}");
            assert!(serde_json::from_value::<Status>(serde_json::json!(bad)).is_err());
        }
    }

    use super::*;

    const HELD: Held<'static> = Held {
        tier_id: Some("tier_pro"),
        price_id: Some("price_pro"),
    };

    fn live(status: &'static str, ending: bool) -> Live<'static> {
        Live {
            status,
            cancel_at_period_end: ending,
            item: Some(("si_1", "price_pro", 1900)),
            period_end: Some(2_000),
        }
    }

    const fn tier(id: &'static str, price: i64, stripe: &'static str) -> Target<'static> {
        Target {
            tier_id: id,
            price,
            stripe_price_id: Some(stripe),
        }
    }

    const STATUSES: [&str; 6] = [
        "active",
        "trialing",
        "past_due",
        "unpaid",
        "incomplete",
        "canceled",
    ];

    #[test]
    fn a_body_that_does_not_fit_its_route_names_the_field() {
        let cases: [(Route, WriteInput, &str); 5] = [
            (
                Route::Cancel,
                WriteInput {
                    tier: Some("pro".into()),
                    ..WriteInput::default()
                },
                "tier",
            ),
            (
                Route::Resume,
                WriteInput {
                    immediately: Some(false),
                    ..WriteInput::default()
                },
                "body",
            ),
            (
                Route::Resume,
                WriteInput {
                    tier: Some("pro".into()),
                    ..WriteInput::default()
                },
                "body",
            ),
            (
                Route::Change,
                WriteInput {
                    immediately: Some(true),
                    tier: Some("pro".into()),
                },
                "immediately",
            ),
            (Route::Change, WriteInput::default(), "tier"),
        ];
        for (route, input, field) in cases {
            let errors = input.validate(route).unwrap_err();
            assert!(errors.contains_key(field), "{route:?}: {errors:?}");
        }
    }

    #[test]
    fn a_fitting_body_becomes_its_write() {
        assert_eq!(
            WriteInput::default().validate(Route::Cancel),
            Ok(Write::Cancel { immediately: false })
        );
        assert_eq!(
            WriteInput::default().validate(Route::Resume),
            Ok(Write::Resume)
        );
        let change = WriteInput {
            tier: Some("team".into()),
            ..WriteInput::default()
        };
        assert_eq!(
            change.validate(Route::Change),
            Ok(Write::Change {
                tier: "team".into()
            })
        );
    }

    #[test]
    fn every_write_on_a_canceled_subscription_is_refused() {
        let ended = live("canceled", false);
        let team = Some(tier("tier_team", 4900, "price_team"));
        let cases = [
            (Write::Cancel { immediately: true }, Refusal::NoSubscription),
            (
                Write::Cancel { immediately: false },
                Refusal::NoSubscription,
            ),
            (Write::Resume, Refusal::NotCanceling),
            (
                Write::Change {
                    tier: "team".into(),
                },
                Refusal::NoSubscription,
            ),
        ];
        for (write, refusal) in cases {
            assert_eq!(plan(&write, HELD, ended, team), Err(refusal), "{write:?}");
        }
    }

    #[test]
    fn a_cancel_ends_at_the_period_end_once_and_an_immediate_one_ends_now_in_every_open_status() {
        for status in STATUSES.iter().filter(|s| **s != "canceled") {
            let later = Write::Cancel { immediately: false };
            assert_eq!(
                plan(&later, HELD, live(status, false), None),
                Ok(Plan::Update(SubscriptionUpdate::CancelAtPeriodEnd(true))),
                "{status}"
            );
            assert_eq!(
                plan(&later, HELD, live(status, true), None),
                Ok(Plan::AsItIs),
                "{status}"
            );
            for ending in [false, true] {
                assert_eq!(
                    plan(
                        &Write::Cancel { immediately: true },
                        HELD,
                        live(status, ending),
                        None
                    ),
                    Ok(Plan::CancelNow),
                    "{status}"
                );
            }
        }
    }

    #[test]
    fn a_resume_keeps_only_a_subscription_set_to_end() {
        for status in STATUSES.iter().filter(|s| **s != "canceled") {
            assert_eq!(
                plan(&Write::Resume, HELD, live(status, true), None),
                Ok(Plan::Update(SubscriptionUpdate::CancelAtPeriodEnd(false)))
            );
            assert_eq!(
                plan(&Write::Resume, HELD, live(status, false), None),
                Err(Refusal::NotCanceling)
            );
        }
    }

    #[test]
    fn a_dearer_tier_is_paid_first_a_cheaper_one_waits_for_renewal_and_the_paid_one_reverts() {
        let change = Write::Change { tier: "x".into() };
        let cases = [
            (
                tier("tier_team", 4900, "price_team"),
                PriceChange::PaidFirst,
            ),
            (
                tier("tier_basic", 900, "price_basic"),
                PriceChange::AtRenewal {
                    paid_tier: "tier_pro",
                    until: 2_000,
                },
            ),
            (
                tier("tier_same_price", 1900, "price_other"),
                PriceChange::AtRenewal {
                    paid_tier: "tier_pro",
                    until: 2_000,
                },
            ),
        ];
        for (target, when) in cases {
            assert_eq!(
                plan(&change, HELD, live("active", false), Some(target)),
                Ok(Plan::Update(SubscriptionUpdate::Price {
                    item: "si_1",
                    price: target.stripe_price_id.unwrap(),
                    when
                })),
                "{target:?}"
            );
        }
        // During a scheduled downgrade Stripe bills the lower price; the paid tier is held.
        let downgrading = Live {
            item: Some(("si_1", "price_basic", 900)),
            ..live("active", false)
        };
        let held = Held {
            tier_id: Some("tier_pro"),
            price_id: Some("price_basic"),
        };
        assert_eq!(
            plan(
                &change,
                held,
                downgrading,
                Some(tier("tier_pro", 1900, "price_pro"))
            ),
            Ok(Plan::Update(SubscriptionUpdate::Price {
                item: "si_1",
                price: "price_pro",
                when: PriceChange::Revert
            }))
        );
    }

    #[test]
    fn a_change_is_refused_while_another_is_pending_to_the_same_price_or_without_stripe() {
        let change = Write::Change { tier: "x".into() };
        let team = tier("tier_team", 4900, "price_team");
        let pending = Held {
            price_id: Some("price_old"),
            ..HELD
        };
        let unpriced = Target {
            stripe_price_id: None,
            ..team
        };
        let no_item = Live {
            item: None,
            ..live("active", false)
        };
        let cases = [
            (
                pending,
                live("active", false),
                Some(team),
                Refusal::ChangePending,
            ),
            (
                HELD,
                live("active", false),
                Some(tier("tier_pro", 1900, "price_pro")),
                Refusal::AlreadySubscribed,
            ),
            (
                HELD,
                live("active", false),
                Some(unpriced),
                Refusal::NotConnected,
            ),
            (HELD, no_item, Some(team), Refusal::NoSubscription),
            (HELD, live("active", false), None, Refusal::TierRequired),
        ];
        for (held, live, target, refusal) in cases {
            assert_eq!(
                plan(&change, held, live, target),
                Err(refusal),
                "{refusal:?}"
            );
        }
    }
}
