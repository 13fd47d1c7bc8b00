//! What a verified Stripe event does to the rows it names, as a plan of typed effects: the
//! rules of settling checkouts ([`checkout`]) and of following subscriptions and their
//! invoices ([`subscription`]), free of storage, so each is tested natively against every
//! stored state. The webhooks worker loads the rows an event names, asks the rule here, and
//! commits the plan's effects as one batch with the event's row (`workers/webhooks/src/apply.rs`).
//!
//! Every effect is also guarded in the SQL that carries it, so a plan decided on rows that
//! changed before its batch ran changes nothing.

pub mod checkout;
pub mod subscription;

use crate::checkout::SessionStatus;
use crate::stripe::events::{Outcome, SubscriptionTerms};
use crate::subscription::Status;

/// A tier of the project's, as a grant names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier<'a> {
    /// `tier_…`
    pub id: &'a str,
    /// The slug stored as the subscription's plan.
    pub name: &'a str,
}

/// A subscription stored (or updated) from its terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The project it belongs to.
    pub project_id: &'a str,
    /// The subscriber.
    pub end_user_id: &'a str,
    /// The tier granted, when it is still known.
    pub tier_id: Option<&'a str>,
    /// The tier's name, stored as the plan.
    pub plan: &'a str,
    /// The subscription as Stripe states it.
    pub terms: &'a SubscriptionTerms,
}

/// Our row of a subscription, as the rules read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredSubscription<'a> {
    /// The project it belongs to.
    pub project_id: &'a str,
    /// The subscriber.
    pub end_user_id: &'a str,
    /// The tier granted, when it is still known.
    pub tier_id: Option<&'a str>,
    /// The plan stored.
    pub plan: &'a str,
    /// Its status as last applied.
    pub status: Status,
    /// `created` of the newest event applied (ms).
    pub stripe_event_at: i64,
}

/// One write a plan makes. Sessions, orders and subscriptions are named by their ids
/// (`cs_…`, `ord_…`, `sub_…`); times are ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect<'a> {
    /// The session is paid and applied.
    CompleteSession(&'a str),
    /// The session completed unpaid and waits for its delayed payment.
    AwaitSession(&'a str),
    /// The session's delayed payment failed.
    FailSession(&'a str),
    /// Stripe expired the session.
    ExpireSession(&'a str),
    /// The order waits for its delayed payment, its stock held.
    AwaitOrder(&'a str, Retake),
    /// The order is paid: stock committed, products granted; paid through the payment named.
    PayOrder(&'a str, Retake, Option<&'a str>),
    /// The order was paid (through the payment named) but its stock is gone: the developer
    /// must act.
    OrderNeedsAttention(&'a str, Option<&'a str>),
    /// The order's payment failed: its stock back, its session failed.
    FailOrder(&'a str),
    /// The order's session expired: what is still held goes back.
    ReleaseOrder(&'a str),
    /// The subscription is stored, or updated, from its terms.
    Subscribe(Grant<'a>),
    /// The grant's Stripe customer is recorded on its end user.
    RecordCustomer(Grant<'a>),
    /// The subscription's paid period starts (never moving back).
    PayPeriod(&'a str, Period),
    /// Revenue: a paid invoice (`in_…`) of the subscription, in minor units of the currency.
    RecordPayment(Payment<'a>),
    /// A renewal failed: an active or trialing subscription becomes `past_due`.
    MarkPastDue(&'a str),
}

/// A billing period, in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// Its start.
    pub start: i64,
    /// Its end.
    pub end: i64,
}

/// What a paid invoice took, as revenue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payment<'a> {
    /// The project it is revenue of.
    pub project_id: &'a str,
    /// `sub_…`
    pub subscription_id: &'a str,
    /// `in_…`
    pub invoice_id: &'a str,
    /// Minor units paid.
    pub amount: i64,
    /// Lower-case ISO currency.
    pub currency: &'a str,
}

/// Whether an order's lapsed holds take their stock again before it settles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retake {
    /// Every hold is in force: nothing to take again.
    No,
    /// Some hold lapsed and the stock still covers it.
    Lapsed,
}

impl Retake {
    /// Whether there is anything to take again.
    #[must_use]
    pub const fn lapsed(self) -> bool {
        matches!(self, Self::Lapsed)
    }
}

/// A developer webhook a plan emits, written only if its effect took place in the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice<'a> {
    /// `order.completed` and the entitlements it grants.
    OrderPaid,
    /// `order.needs_attention`, naming the products that are short.
    OrderNeedsAttention,
    /// The subscription's events from its terms, and whether it gave access before.
    Subscription(Grant<'a>, bool),
    /// The subscription's events from our row after a plain update: its status now, a new
    /// paid period if any, and whether access was granted (`Some(true)`), revoked
    /// (`Some(false)`) or did not change (`None`).
    SubscriptionRow(&'a str, Status, Option<Period>, Option<bool>),
}

/// What an event will write, whom it tells, and what changes for whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan<'a> {
    /// The project whose rows it writes.
    pub project_id: &'a str,
    /// The writes, in order.
    pub effects: Vec<Effect<'a>>,
    /// The developer webhooks.
    pub notices: Vec<Notice<'a>>,
    /// A checkout session made final, and its status, for clients waiting on its events.
    pub push: Option<(&'a str, SessionStatus)>,
    /// The end user whose metering allowance the effects change.
    pub allowance_of: Option<&'a str>,
}

impl<'a> Plan<'a> {
    fn new(project_id: &'a str, effects: Vec<Effect<'a>>) -> Self {
        Self {
            project_id,
            effects,
            notices: Vec::new(),
            push: None,
            allowance_of: None,
        }
    }
}

/// Why an event is recorded without effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// The session is not one of this platform's projects'.
    NotOurs,
    /// The stored state is past what the event would do.
    Stale,
    /// The session names no tier.
    NoTier,
    /// The session's tier is not its project's.
    ForeignTier,
    /// The subscription belongs to another project.
    ForeignSubscription,
    /// The session lacks what its kind needs (an order, a buyer, a subscription).
    Incomplete,
    /// A subscription we do not hold names no project or end user of ours in its metadata.
    NoMetadata,
    /// The subscription's project is not this platform's in the event's mode.
    ForeignProject,
    /// The end user its metadata names is not the project's.
    ForeignEndUser,
    /// No tier of the project sells the price it bills, and none was granted before.
    NoTierForPrice,
    /// No subscription of ours is invoiced.
    NotInvoiced,
    /// The invoice changes nothing Tollgate keeps (it pays nothing and starts no period, or
    /// it is an unpaid proration).
    NothingToApply,
}

impl Ignored {
    /// Why, for the log.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::NotOurs => "not a checkout session of this platform's projects",
            Self::Stale => "older than the state it would change",
            Self::NoTier => "the session names no tier",
            Self::ForeignTier => "the session's tier is not the project's",
            Self::ForeignSubscription => "the subscription belongs to another project",
            Self::Incomplete => "the session lacks what its kind needs",
            Self::NoMetadata => "no Tollgate project or end user in its metadata",
            Self::ForeignProject => "the project is not this platform's in this mode",
            Self::ForeignEndUser => "the end user is not the project's",
            Self::NoTierForPrice => "no tier of the project sells its price",
            Self::NotInvoiced => "no subscription of ours is invoiced",
            Self::NothingToApply => "the invoice changes nothing Tollgate keeps",
        }
    }

    /// How the event is recorded.
    #[must_use]
    pub const fn outcome(self) -> Outcome {
        match self {
            Self::Stale => Outcome::Stale,
            Self::NothingToApply => Outcome::Unhandled,
            _ => Outcome::Unrelated,
        }
    }
}

/// What deciding an event comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Recorded without effect, for the project named when it is known.
    Ignore(Ignored, Option<&'a str>),
    /// Stripe must first be asked for the subscription's terms (`sub_…`); decide again with
    /// them.
    FetchTerms(&'a str),
    /// Commit the plan.
    Apply(Plan<'a>),
}

/// What the rules' tests share: a subscription's terms and the plan a decision must be.
#[cfg(test)]
mod fixtures {
    use super::{Decision, Grant, Plan};
    use crate::stripe::events::SubscriptionTerms;
    use crate::subscription::Status;

    /// Stripe's terms of `sub_1` (price `price_pro`, 29.00 a month) with `metadata`.
    pub(super) fn terms(status: Status, metadata: &[(&str, &str)]) -> SubscriptionTerms {
        SubscriptionTerms {
            stripe_subscription_id: "sub_1".into(),
            stripe_customer_id: "cus_1".into(),
            stripe_price_id: "price_pro".into(),
            status,
            amount: 2900,
            currency: "usd".into(),
            interval: "month",
            period_start: Some(1_000),
            period_end: Some(2_000),
            cancel_at_period_end: false,
            canceled_at: None,
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// `eu_1` of `proj_a` granted `tier_pro` (plan `pro`) on `terms`.
    pub(super) fn pro_grant(terms: &SubscriptionTerms) -> Grant<'_> {
        Grant {
            project_id: "proj_a",
            end_user_id: "eu_1",
            tier_id: Some("tier_pro"),
            plan: "pro",
            terms,
        }
    }

    /// The plan `decision` carries; any other decision fails the test.
    pub(super) fn applied(decision: Decision<'_>) -> Plan<'_> {
        match decision {
            Decision::Apply(plan) => plan,
            other => panic!("expected a plan, got {other:?}"),
        }
    }
}
