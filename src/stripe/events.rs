//! Stripe webhook events as Tollgate reads them: the envelope parsed at the boundary, the typed
//! object of each event type we apply, and the pure rules around them — ordering (an older
//! event never overwrites newer state), the subscription terms we store, and which outcome an
//! event was recorded with.

use super::objects::{Charge, CheckoutSession, Dispute, Invoice, Subscription};
use crate::subscription::Status;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Metadata keys Tollgate writes on the objects it creates on a connected account.
pub mod metadata {
    /// The project a session or subscription was made for.
    pub const PROJECT: &str = "tollgate_project_id";
    /// The end user (`cus_…`) a subscription was bought for.
    pub const END_USER: &str = "tollgate_end_user_id";
    /// The tier a subscription was bought for.
    pub const TIER: &str = "tollgate_tier_id";
    /// The order a payment-mode session pays.
    pub const ORDER: &str = "tollgate_order_id";
    /// On Tollgate's own account: the developer platform a subscription bills.
    pub const PLATFORM: &str = "tollgate_platform_id";
    /// A downgrade: the tier already paid for, kept until [`PAID_UNTIL`].
    pub const PAID_TIER: &str = "tollgate_paid_tier_id";
    /// A downgrade: Unix seconds when the paid period ends and the lower price takes over.
    pub const PAID_UNTIL: &str = "tollgate_paid_until";
    /// A downgrade: the lower price that bills from [`PAID_UNTIL`].
    pub const SCHEDULED_PRICE: &str = "tollgate_scheduled_price_id";
}

/// Why an event could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventError {
    /// The body is not a Stripe event envelope (id, type, created, livemode, data.object).
    Envelope(String),
    /// The envelope is fine but its object is not the shape its type promises.
    Object {
        /// The event type.
        kind: String,
        /// What did not parse.
        detail: String,
    },
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Envelope(detail) => write!(f, "not a Stripe event: {detail}"),
            Self::Object { kind, detail } => write!(f, "{kind}: unexpected object: {detail}"),
        }
    }
}

impl std::error::Error for EventError {}

#[derive(Deserialize)]
struct WireData {
    object: Value,
    #[serde(default)]
    previous_attributes: Option<Value>,
}

#[derive(Deserialize)]
struct Wire {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    #[serde(default)]
    account: Option<String>,
    livemode: bool,
    data: WireData,
}

/// A Stripe event envelope, checked: an `evt_` id, a type, a non-negative `created`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "Wire")]
pub struct Event {
    /// `evt_…`, unique: the exactly-once key.
    pub id: String,
    /// E.g. `checkout.session.completed`.
    pub kind: String,
    /// Unix seconds, as Stripe sends it.
    pub created: i64,
    /// The connected account it happened on; `None` for Tollgate's own account.
    pub account: Option<String>,
    /// Live or test.
    pub livemode: bool,
    /// `data.object`, read by [`Event::payload`] according to the type.
    pub object: Value,
    /// `data.previous_attributes` on updates.
    pub previous_attributes: Option<Value>,
}

impl TryFrom<Wire> for Event {
    type Error = EventError;

    fn try_from(wire: Wire) -> Result<Self, Self::Error> {
        if !wire.id.starts_with("evt_") || wire.id.len() > 255 {
            return Err(EventError::Envelope("id must be an evt_ id".into()));
        }
        if wire.kind.is_empty() || wire.kind.len() > 255 {
            return Err(EventError::Envelope(
                "type must be a Stripe event type".into(),
            ));
        }
        if wire.created < 0 {
            return Err(EventError::Envelope("created must be ≥ 0".into()));
        }
        if wire
            .account
            .as_deref()
            .is_some_and(|a| !a.starts_with("acct_"))
        {
            return Err(EventError::Envelope("account must be an acct_ id".into()));
        }
        Ok(Self {
            id: wire.id,
            kind: wire.kind,
            created: wire.created,
            account: wire.account,
            livemode: wire.livemode,
            object: wire.data.object,
            previous_attributes: wire.data.previous_attributes,
        })
    }
}

/// What a subscription event says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// `customer.subscription.created`
    Created,
    /// `customer.subscription.updated`
    Updated,
    /// `customer.subscription.deleted`: it ended.
    Deleted,
}

/// An event's object, typed by the event's type. Types Tollgate does not apply are
/// [`Payload::Unhandled`], recorded and acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// `checkout.session.completed`
    CheckoutCompleted(CheckoutSession),
    /// `checkout.session.expired`
    CheckoutExpired(CheckoutSession),
    /// `checkout.session.async_payment_succeeded`: a completed session's delayed payment
    /// (SEPA, ACH, Boleto, bank transfer) went through.
    CheckoutPaid(CheckoutSession),
    /// `checkout.session.async_payment_failed`: a completed session's delayed payment failed.
    CheckoutPaymentFailed(CheckoutSession),
    /// `customer.subscription.{created,updated,deleted}`
    Subscription(SubscriptionChange, Box<Subscription>),
    /// `invoice.paid`
    InvoicePaid(Invoice),
    /// `invoice.payment_failed`
    InvoicePaymentFailed(Invoice),
    /// `charge.refunded`: some or all of a charge was refunded (the charge carries the total).
    ChargeRefunded(Charge),
    /// `charge.dispute.created`: the buyer disputed a charge.
    DisputeCreated(Dispute),
    /// `charge.dispute.closed`: the dispute was decided (`won`, `lost`, `warning_closed`).
    DisputeClosed(Dispute),
    /// `account.application.deauthorized`: the account disconnected Tollgate.
    Deauthorized,
    /// Anything else.
    Unhandled,
}

impl Event {
    /// Parses the raw body of a delivery.
    ///
    /// # Errors
    /// [`EventError::Envelope`] when it is not a Stripe event.
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        serde_json::from_slice(body).map_err(|e| EventError::Envelope(e.to_string()))
    }

    /// `created` in Unix milliseconds, the unit of every stored time.
    #[must_use]
    pub fn created_ms(&self) -> i64 {
        self.created.saturating_mul(1000)
    }

    /// The mode the event belongs to.
    #[must_use]
    pub fn mode(&self) -> crate::Mode {
        if self.livemode {
            crate::Mode::Live
        } else {
            crate::Mode::Test
        }
    }

    /// The object, typed by the event's type.
    ///
    /// # Errors
    /// [`EventError::Object`] when the object is not what the type promises.
    pub fn payload(&self) -> Result<Payload, EventError> {
        Ok(match self.kind.as_str() {
            "checkout.session.completed" => Payload::CheckoutCompleted(self.object()?),
            "checkout.session.expired" => Payload::CheckoutExpired(self.object()?),
            "checkout.session.async_payment_succeeded" => Payload::CheckoutPaid(self.object()?),
            "checkout.session.async_payment_failed" => {
                Payload::CheckoutPaymentFailed(self.object()?)
            }
            "customer.subscription.created" => {
                Payload::Subscription(SubscriptionChange::Created, Box::new(self.object()?))
            }
            "customer.subscription.updated" => {
                Payload::Subscription(SubscriptionChange::Updated, Box::new(self.object()?))
            }
            "customer.subscription.deleted" => {
                Payload::Subscription(SubscriptionChange::Deleted, Box::new(self.object()?))
            }
            "invoice.paid" => Payload::InvoicePaid(self.object()?),
            "invoice.payment_failed" => Payload::InvoicePaymentFailed(self.object()?),
            "charge.refunded" => Payload::ChargeRefunded(self.object()?),
            "charge.dispute.created" => Payload::DisputeCreated(self.object()?),
            "charge.dispute.closed" => Payload::DisputeClosed(self.object()?),
            "account.application.deauthorized" => Payload::Deauthorized,
            _ => Payload::Unhandled,
        })
    }

    fn object<T: serde::de::DeserializeOwned>(&self) -> Result<T, EventError> {
        T::deserialize(&self.object).map_err(|e| EventError::Object {
            kind: self.kind.clone(),
            detail: e.to_string(),
        })
    }
}

/// What applying an event did, as stored in `stripe_events.outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Its effects were written.
    Applied,
    /// It is older than the state it would overwrite: ignored.
    Stale,
    /// It does not belong to a platform, project or record of ours: ignored.
    Unrelated,
    /// Tollgate does not act on its type.
    Unhandled,
}

impl Outcome {
    /// The stored value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Stale => "stale",
            Self::Unrelated => "unrelated",
            Self::Unhandled => "unhandled",
        }
    }
}

/// The webhook's answer: Stripe only needs a 2xx; the fields are for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// Always `true`.
    pub received: bool,
    /// What applying it did; absent for a duplicate, which did nothing now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Whether the event had been recorded before.
    pub duplicate: bool,
}

impl Receipt {
    /// The answer for a first delivery.
    #[must_use]
    pub const fn first(outcome: Outcome) -> Self {
        Self {
            received: true,
            outcome: Some(outcome),
            duplicate: false,
        }
    }

    /// The answer for an event recorded before.
    #[must_use]
    pub const fn duplicate() -> Self {
        Self {
            received: true,
            outcome: None,
            duplicate: true,
        }
    }
}

/// Whether an event created at `event_ms` is older than the state last written from an event
/// created at `stored_ms`. Equal times are not stale: Stripe stamps in seconds, and events of
/// one request share a second and arrive in order.
#[must_use]
pub fn is_stale(event_ms: i64, stored_ms: Option<i64>) -> bool {
    stored_ms.is_some_and(|stored| event_ms < stored)
}

/// What Tollgate stores of a subscription, in its units (ms, minor units).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionTerms {
    /// `sub_…`
    pub stripe_subscription_id: String,
    /// `cus_…` on the connected account.
    pub stripe_customer_id: String,
    /// The price of the first item.
    pub stripe_price_id: String,
    /// Its status; `canceled` whenever the event says it was deleted.
    pub status: Status,
    /// Minor units per interval (unit amount × quantity is not used: one seat per end user).
    pub amount: i64,
    /// Lower-case ISO currency.
    pub currency: String,
    /// `month` or `year`.
    pub interval: &'static str,
    /// Period start (ms).
    pub period_start: Option<i64>,
    /// Period end (ms).
    pub period_end: Option<i64>,
    /// Whether it ends at the period's end.
    pub cancel_at_period_end: bool,
    /// When it was canceled (ms).
    pub canceled_at: Option<i64>,
    /// Our references from its metadata.
    pub metadata: BTreeMap<String, String>,
}

impl SubscriptionTerms {
    /// Reads a subscription as Stripe sent it. `deleted` forces `canceled`, whatever the object
    /// says, because the subscription no longer exists.
    ///
    /// # Errors
    /// A status, price or interval our schema cannot hold.
    pub fn read(subscription: &Subscription, deleted: bool) -> Result<Self, EventError> {
        let fail = |detail: String| EventError::Object {
            kind: "subscription".into(),
            detail,
        };
        let status = if deleted {
            Status::Canceled
        } else {
            Status::parse(&subscription.status)
                .ok_or_else(|| fail(format!("unknown status {}", subscription.status)))?
        };
        let item = subscription
            .items
            .data
            .first()
            .ok_or_else(|| fail("no items".into()))?;
        let interval = match item.price.recurring.as_ref().map(|r| r.interval.as_str()) {
            Some("month") => "month",
            Some("year") => "year",
            other => return Err(fail(format!("unsupported interval {other:?}"))),
        };
        let ms = |secs: i64| secs.saturating_mul(1000);
        let period = subscription.period();
        Ok(Self {
            stripe_subscription_id: subscription.id.clone(),
            stripe_customer_id: subscription.customer.clone(),
            stripe_price_id: item.price.id.clone(),
            status,
            amount: item.price.unit_amount.unwrap_or(0).max(0),
            currency: item.price.currency.clone(),
            interval,
            period_start: period.map(|(start, _)| ms(start)),
            period_end: period.map(|(_, end)| ms(end)),
            cancel_at_period_end: subscription.cancel_at_period_end,
            canceled_at: subscription.canceled_at.map(ms),
            metadata: subscription.metadata.clone(),
        })
    }

    /// The tier a downgrade keeps in force: while the subscription bills the lower price that
    /// was scheduled and its period began before the paid one ended, the tier already paid for
    /// stays; from the renewal on, the tier follows the price. The terms are read from the
    /// items Stripe bills, never from a `pending_update`, so an unpaid upgrade grants nothing.
    #[must_use]
    pub fn paid_tier_held(&self) -> Option<&str> {
        let field = |key| self.metadata.get(key).filter(|v| !v.is_empty());
        let tier = field(metadata::PAID_TIER)?;
        let until = field(metadata::PAID_UNTIL)?.parse::<i64>().ok()?;
        let scheduled = field(metadata::SCHEDULED_PRICE)?;
        let in_paid_period = self.period_start? < until.saturating_mul(1000);
        (*scheduled == self.stripe_price_id && in_paid_period).then_some(tier.as_str())
    }
}

/// The developer's own Tollgate subscription status for `platforms.billing_status`, from a
/// Stripe status: what gates live keys. Statuses that never paid read as `none`.
#[must_use]
pub fn platform_billing_status(stripe_status: &str, deleted: bool) -> &'static str {
    if deleted {
        return "canceled";
    }
    match stripe_status {
        "trialing" => "trialing",
        "active" => "active",
        "past_due" | "paused" => "past_due",
        "canceled" | "incomplete_expired" => "canceled",
        "unpaid" => "unpaid",
        _ => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription_json(status: &str, interval: &str) -> String {
        format!(
            r#"{{"id":"sub_1","object":"subscription","status":"{status}","customer":"cus_9",
              "cancel_at_period_end":true,"canceled_at":1700000100,
              "metadata":{{"tollgate_project_id":"prj_1"}},
              "items":{{"object":"list","data":[{{"id":"si_1","current_period_start":1700000000,
                "current_period_end":1702592000,"price":{{"id":"price_1","product":"prod_1",
                "unit_amount":900,"currency":"usd","active":true,
                "recurring":{{"interval":"{interval}","interval_count":1}}}}}}]}}}}"#
        )
    }

    fn envelope(kind: &str, object: &str) -> String {
        format!(
            r#"{{"id":"evt_1","object":"event","api_version":"2026-10-28.endive","type":"{kind}",
              "created":1700000000,"livemode":false,"account":"acct_1","pending_webhooks":1,
              "data":{{"object":{object},"previous_attributes":{{"status":"trialing"}}}}}}"#
        )
    }

    #[test]
    fn an_envelope_reads_its_id_type_time_account_mode_and_data() {
        let event = Event::parse(envelope("customer.updated", "{}").as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(event.id, "evt_1");
        assert_eq!(event.kind, "customer.updated");
        assert_eq!(event.created_ms(), 1_700_000_000_000);
        assert_eq!(event.account.as_deref(), Some("acct_1"));
        assert_eq!(event.mode(), crate::Mode::Test);
        assert!(event.previous_attributes.is_some());
        assert_eq!(event.payload(), Ok(Payload::Unhandled));
    }

    #[test]
    fn bodies_that_are_not_event_envelopes_are_refused() {
        let cases = [
            ("not json", "{"),
            (
                "no id",
                r#"{"type":"x","created":1,"livemode":false,"data":{"object":{}}}"#,
            ),
            (
                "not an event id",
                r#"{"id":"cus_1","type":"x","created":1,"livemode":false,"data":{"object":{}}}"#,
            ),
            (
                "empty type",
                r#"{"id":"evt_1","type":"","created":1,"livemode":false,"data":{"object":{}}}"#,
            ),
            (
                "negative time",
                r#"{"id":"evt_1","type":"x","created":-1,"livemode":false,"data":{"object":{}}}"#,
            ),
            (
                "no data",
                r#"{"id":"evt_1","type":"x","created":1,"livemode":false}"#,
            ),
            (
                "foreign account",
                r#"{"id":"evt_1","type":"x","created":1,"livemode":false,"account":"x","data":{"object":{}}}"#,
            ),
        ];
        for (why, body) in cases {
            assert!(
                matches!(Event::parse(body.as_bytes()), Err(EventError::Envelope(_))),
                "{why}"
            );
        }
    }

    #[test]
    fn a_subscription_event_reads_its_terms_in_milliseconds() {
        let event = Event::parse(
            envelope(
                "customer.subscription.updated",
                &subscription_json("active", "month"),
            )
            .as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{e}"));

        let Ok(Payload::Subscription(SubscriptionChange::Updated, subscription)) = event.payload()
        else {
            panic!("not a subscription update");
        };
        let terms = SubscriptionTerms::read(&subscription, false).unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(terms.status, Status::Active);
        assert_eq!(terms.amount, 900);
        assert_eq!(terms.interval, "month");
        assert_eq!(terms.stripe_price_id, "price_1");
        assert_eq!(terms.period_start, Some(1_700_000_000_000));
        assert_eq!(terms.period_end, Some(1_702_592_000_000));
        assert_eq!(terms.canceled_at, Some(1_700_000_100_000));
        assert!(terms.cancel_at_period_end);
        assert_eq!(
            terms.metadata.get(metadata::PROJECT).map(String::as_str),
            Some("prj_1")
        );
    }

    #[test]
    fn a_downgrade_keeps_the_paid_tier_only_while_the_scheduled_price_bills_inside_the_paid_period()
    {
        // The fixture's period starts at 1_700_000_000 and it bills price_1.
        let cases = [
            (
                "tier_team",
                "1702592000",
                "price_1",
                Some("tier_team"),
                "inside the paid period",
            ),
            (
                "tier_team",
                "1700000000",
                "price_1",
                None,
                "the renewal reached the paid end",
            ),
            (
                "tier_team",
                "1702592000",
                "price_9",
                None,
                "another price bills now (an upgrade)",
            ),
            (
                "",
                "1702592000",
                "price_1",
                None,
                "a cleared schedule (a revert)",
            ),
            ("tier_team", "soon", "price_1", None, "an unreadable end"),
        ];
        for (tier, until, scheduled, expected, why) in cases {
            let mut subscription: Subscription =
                serde_json::from_str(&subscription_json("active", "month"))
                    .unwrap_or_else(|e| panic!("{e}"));
            subscription.metadata.extend([
                (metadata::PAID_TIER.to_owned(), tier.to_owned()),
                (metadata::PAID_UNTIL.to_owned(), until.to_owned()),
                (metadata::SCHEDULED_PRICE.to_owned(), scheduled.to_owned()),
            ]);

            let terms =
                SubscriptionTerms::read(&subscription, false).unwrap_or_else(|e| panic!("{e}"));

            assert_eq!(terms.paid_tier_held(), expected, "{why}");
        }
    }

    #[test]
    fn a_pending_update_never_changes_the_price_the_terms_grant() {
        let pending = subscription_json("active", "month").replacen(
            r#""metadata""#,
            r#""pending_update":{"expires_at":1700082800,"billing_cycle_anchor":null,
              "subscription_items":[{"id":"si_1","price":{"id":"price_team","product":"prod_1",
                "unit_amount":2900,"currency":"usd","active":true,
                "recurring":{"interval":"month","interval_count":1}}}]},"metadata""#,
            1,
        );
        let subscription: Subscription =
            serde_json::from_str(&pending).unwrap_or_else(|e| panic!("{e}"));

        let terms = SubscriptionTerms::read(&subscription, false).unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(
            subscription.pending_update.map(|p| p.expires_at),
            Some(1_700_082_800)
        );
        assert_eq!(terms.stripe_price_id, "price_1");
        assert_eq!(terms.amount, 900);
    }

    #[test]
    fn a_deleted_subscription_is_canceled_whatever_its_object_says() {
        let subscription: Subscription = serde_json::from_str(&subscription_json("active", "year"))
            .unwrap_or_else(|e| panic!("{e}"));

        let terms = SubscriptionTerms::read(&subscription, true).unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(terms.status, Status::Canceled);
        assert_eq!(terms.interval, "year");
    }

    #[test]
    fn subscriptions_our_schema_cannot_hold_are_refused() {
        for (status, interval) in [("exploded", "month"), ("active", "week")] {
            let subscription: Subscription =
                serde_json::from_str(&subscription_json(status, interval))
                    .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                SubscriptionTerms::read(&subscription, false).is_err(),
                "{status} {interval}"
            );
        }
    }

    #[test]
    fn refund_and_dispute_events_read_the_charge_and_dispute_they_carry() {
        let charge = r#"{"id":"ch_1","object":"charge","amount":1500,"amount_refunded":1500,"refunded":true,
            "payment_intent":"pi_1","customer":"cus_1","status":"succeeded"}"#;
        let dispute = r#"{"id":"dp_1","object":"dispute","charge":"ch_1","payment_intent":"pi_1","amount":1500,"status":"lost"}"#;
        let read = |kind: &str, object: &str| {
            Event::parse(envelope(kind, object).as_bytes())
                .and_then(|e| e.payload())
                .unwrap_or_else(|e| panic!("{e}"))
        };

        let Payload::ChargeRefunded(refunded) = read("charge.refunded", charge) else {
            panic!("not a refund");
        };
        let Payload::DisputeClosed(closed) = read("charge.dispute.closed", dispute) else {
            panic!("not a closed dispute");
        };

        assert_eq!(
            (
                refunded.amount_refunded,
                refunded.refunded,
                refunded.payment_intent.as_deref()
            ),
            (1500, true, Some("pi_1"))
        );
        assert!(closed.is_lost());
        assert!(matches!(
            read("charge.dispute.created", dispute),
            Payload::DisputeCreated(_)
        ));
    }

    #[test]
    fn a_handled_type_with_the_wrong_object_is_an_object_error() {
        let event = Event::parse(envelope("invoice.paid", r#"{"id":"in_1"}"#).as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));

        assert!(matches!(event.payload(), Err(EventError::Object { .. })));
    }

    #[test]
    fn only_an_event_older_than_the_stored_state_is_stale() {
        assert!(!is_stale(1_000, None), "nothing stored yet");
        assert!(!is_stale(2_000, Some(1_000)), "newer");
        assert!(!is_stale(1_000, Some(1_000)), "same second");
        assert!(is_stale(999, Some(1_000)), "older");
    }

    #[test]
    fn the_receipt_omits_the_outcome_of_a_duplicate() {
        let first = serde_json::to_value(Receipt::first(Outcome::Stale)).unwrap_or_default();
        let again = serde_json::to_value(Receipt::duplicate()).unwrap_or_default();

        assert_eq!(
            first,
            serde_json::json!({"received": true, "outcome": "stale", "duplicate": false})
        );
        assert_eq!(
            again,
            serde_json::json!({"received": true, "duplicate": true})
        );
    }

    #[test]
    fn a_platform_subscription_status_maps_onto_billing_status() {
        let cases = [
            ("active", false, "active"),
            ("trialing", false, "trialing"),
            ("past_due", false, "past_due"),
            ("unpaid", false, "unpaid"),
            ("incomplete_expired", false, "canceled"),
            ("incomplete", false, "none"),
            ("active", true, "canceled"),
        ];
        for (status, deleted, expected) in cases {
            assert_eq!(
                platform_billing_status(status, deleted),
                expected,
                "{status}"
            );
        }
    }
}
