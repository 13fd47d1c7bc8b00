//! The developer events a Stripe event causes (`subscription.updated`, `order.completed`,
//! `order.refunded`, `order.needs_attention`, `entitlement.changed`): each is a fan-out
//! statement that joins the Stripe event's own batch, guarded so it reports only a change the
//! batch really made. Ids derive from the Stripe event (or the order), so re-applying an
//! event never fires twice.
//!
//! The `data` objects are plain structs serialized straight into the body (no intermediate
//! JSON values): this worker is the one closest to its size budget.

use serde::Serialize;
use tollgate::Mode;
use tollgate::checkout::OrderStatus;
use tollgate::outbound::{Envelope, EventType, event_id};
use tollgate::refunds::{Access, Decision, RevokedBy};
use tollgate::stripe::events::SubscriptionTerms;
use tollgate::subscription::Status;
use tollgate_edge::ApiError;
use tollgate_edge::db::billing::Grant;
use tollgate_edge::db::checkout::{OrderLine, OrderRow};
use tollgate_edge::db::refunds::ChargedOrder;
use tollgate_edge::db::{int, text};
use tollgate_edge::outbound::fan_out;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// Where the events happen: the Stripe event that causes them, its project and mode.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin<'a> {
    pub(crate) db: &'a D1Database,
    pub(crate) stripe_event: &'a str,
    pub(crate) project_id: &'a str,
    pub(crate) mode: Mode,
    pub(crate) now: i64,
}

/// `subscription.updated`: the subscription as the event left it. Fields a plain UPDATE did
/// not read are left out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriptionData<'a> {
    pub(crate) stripe_subscription_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stripe_customer_id: Option<&'a str>,
    pub(crate) end_user_id: &'a str,
    pub(crate) tier_id: Option<&'a str>,
    pub(crate) plan: &'a str,
    pub(crate) status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) currency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) interval: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) current_period_start: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) current_period_end: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cancel_at_period_end: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) canceled_at: Option<i64>,
}

impl SubscriptionData<'_> {
    fn access(&self, granted: bool) -> AccessData<'_> {
        AccessData {
            change: if granted { "granted" } else { "revoked" },
            source: "subscription",
            end_user_id: Some(self.end_user_id),
            stripe_subscription_id: Some(self.stripe_subscription_id),
            tier_id: self.tier_id,
            plan: Some(self.plan),
            status: Some(self.status),
            order_id: None,
            email: None,
            product_ids: None,
        }
    }
}

/// `entitlement.changed`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessData<'a> {
    change: &'static str,
    source: &'static str,
    end_user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stripe_subscription_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tier_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_ids: Option<Vec<&'a str>>,
}

/// `order.completed`, and `order.needs_attention` with the products it could not have.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderData<'a> {
    id: &'a str,
    status: OrderStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<&'a [String]>,
    end_user_id: Option<&'a str>,
    email: Option<&'a str>,
    amount_total: i64,
    currency: &'a str,
    items: Vec<Item<'a>>,
    created_at: i64,
    paid_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    product_id: &'a str,
    name: &'a str,
    quantity: i64,
    unit_amount: i64,
}

impl Origin<'_> {
    fn event<T: Serialize>(
        &self,
        kind: EventType,
        seed: &str,
        data: &T,
        guard: (&str, Vec<JsValue>),
    ) -> Result<D1PreparedStatement, ApiError> {
        let id = event_id(kind, seed);
        let envelope = Envelope::new(
            &id,
            kind,
            self.now,
            self.project_id,
            self.mode.as_str(),
            data,
        );
        fan_out(self.db, &envelope, Some(guard))
    }

    /// `subscription.updated` for the subscription as `terms` leave it, and, when access
    /// moved (`had_access` → its new status), `entitlement.changed`. Both only if the
    /// subscription row took this event (its `stripe_event_at` and `updated_at` are this
    /// event's and this moment's when the batch reaches them).
    pub(crate) fn subscription(
        &self,
        grant: Grant<'_>,
        terms: &SubscriptionTerms,
        had_access: bool,
        event_at: i64,
    ) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let sub = terms.stripe_subscription_id.as_str();
        let data = SubscriptionData {
            stripe_subscription_id: sub,
            stripe_customer_id: Some(&terms.stripe_customer_id),
            end_user_id: grant.end_user_id,
            tier_id: grant.tier_id,
            plan: grant.plan,
            status: terms.status,
            amount: Some(terms.amount),
            currency: Some(&terms.currency),
            interval: Some(terms.interval),
            current_period_start: terms.period_start,
            current_period_end: terms.period_end,
            cancel_at_period_end: Some(terms.cancel_at_period_end),
            canceled_at: terms.canceled_at,
        };
        let guard = || {
            (
                "EXISTS (SELECT 1 FROM subscriptions WHERE stripe_subscription_id = ?8 AND stripe_event_at = ?9 AND updated_at = ?10)",
                vec![text(sub), int(event_at), int(self.now)],
            )
        };
        let has_access = terms.status.gives_access();
        self.subscription_events(
            &data,
            (has_access != had_access).then_some(has_access),
            guard,
        )
    }

    /// `subscription.updated` for a change made by a plain UPDATE of the row (a renewal's new
    /// period, a failed renewal), written only if that UPDATE took effect at this moment, and
    /// `entitlement.changed` when `access` says access was gained or lost.
    pub(crate) fn subscription_row(
        &self,
        data: &SubscriptionData<'_>,
        access: Option<bool>,
    ) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let guard = || {
            (
                "EXISTS (SELECT 1 FROM subscriptions WHERE stripe_subscription_id = ?8 AND updated_at = ?9)",
                vec![text(data.stripe_subscription_id), int(self.now)],
            )
        };
        self.subscription_events(data, access, guard)
    }

    fn subscription_events<'g>(
        &self,
        data: &SubscriptionData<'_>,
        access: Option<bool>,
        guard: impl Fn() -> (&'g str, Vec<JsValue>),
    ) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let seed = format!("{}:{}", self.stripe_event, data.stripe_subscription_id);
        let mut events = vec![self.event(EventType::SubscriptionUpdated, &seed, data, guard())?];
        if let Some(granted) = access {
            events.push(self.event(
                EventType::EntitlementChanged,
                &seed,
                &data.access(granted),
                guard(),
            )?);
        }
        Ok(events)
    }

    /// `order.completed` and the `entitlement.changed` of its products, written only if the
    /// order became paid in this batch.
    pub(crate) fn order_paid(
        &self,
        order: &OrderRow,
        lines: &[OrderLine],
    ) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let guard = || {
            (
                "EXISTS (SELECT 1 FROM orders WHERE id = ?8 AND status = 'paid' AND paid_at = ?9)",
                vec![text(&order.id), int(self.now)],
            )
        };
        let data = order_data(order, lines, OrderStatus::Paid, None, self.now);
        let access = AccessData {
            change: "granted",
            source: "order",
            end_user_id: order.end_user_id.as_deref(),
            stripe_subscription_id: None,
            tier_id: None,
            plan: None,
            status: None,
            order_id: Some(&order.id),
            email: order.email.as_deref(),
            product_ids: Some(lines.iter().map(|l| l.product_id.as_str()).collect()),
        };
        Ok(vec![
            self.event(EventType::OrderCompleted, &order.id, &data, guard())?,
            self.event(EventType::EntitlementChanged, &order.id, &access, guard())?,
        ])
    }

    /// `order.needs_attention`: the order was paid after its hold lapsed and `unavailable`
    /// (product names) are gone; written only if the order took that state in this batch.
    pub(crate) fn order_needs_attention(
        &self,
        order: &OrderRow,
        lines: &[OrderLine],
        unavailable: &[String],
    ) -> Result<D1PreparedStatement, ApiError> {
        let guard = (
            "EXISTS (SELECT 1 FROM orders WHERE id = ?8 AND status = 'needs_attention' AND updated_at = ?9)",
            vec![text(&order.id), int(self.now)],
        );
        let data = order_data(
            order,
            lines,
            OrderStatus::NeedsAttention,
            Some(unavailable),
            self.now,
        );
        self.event(EventType::OrderNeedsAttention, &order.id, &data, guard)
    }
}

/// The order as a developer event reports it.
fn order_data<'a>(
    order: &'a OrderRow,
    lines: &'a [OrderLine],
    status: OrderStatus,
    unavailable: Option<&'a [String]>,
    now: i64,
) -> OrderData<'a> {
    OrderData {
        id: &order.id,
        status,
        unavailable,
        end_user_id: order.end_user_id.as_deref(),
        email: order.email.as_deref(),
        amount_total: order.amount_total,
        currency: &order.currency,
        items: lines
            .iter()
            .map(|l| Item {
                product_id: &l.product_id,
                name: &l.name,
                quantity: l.quantity,
                unit_amount: l.unit_amount,
            })
            .collect(),
        created_at: order.created_at,
        paid_at: now,
    }
}

/// `order.refunded`: the order after a refund, with the cumulative amount refunded.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefundData<'a> {
    id: &'a str,
    status: OrderStatus,
    end_user_id: Option<&'a str>,
    email: Option<&'a str>,
    amount_total: i64,
    amount_refunded: i64,
    currency: &'a str,
    /// Whether the whole order is refunded now (its access revoked).
    full: bool,
    stripe_charge_id: &'a str,
    refunded_at: i64,
}

/// `entitlement.changed` of an order's products after a refund or a dispute.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderAccessData<'a> {
    change: &'static str,
    source: &'static str,
    /// `refund`, `dispute` or `dispute_won`.
    reason: &'static str,
    end_user_id: Option<&'a str>,
    order_id: &'a str,
    email: Option<&'a str>,
    product_ids: &'a [String],
    status: OrderStatus,
}

impl Origin<'_> {
    /// The guard of a charge event's notices: the order's UPDATE took effect in this batch.
    fn order_settled(&self, order: &ChargedOrder, decision: &Decision) -> (&str, Vec<JsValue>) {
        (
            "EXISTS (SELECT 1 FROM orders WHERE id = ?8 AND updated_at = ?9 AND status = ?10 AND amount_refunded = ?11)",
            vec![
                text(&order.id),
                int(self.now),
                text(decision.status.as_str()),
                int(decision.amount_refunded),
            ],
        )
    }

    /// What a refund or dispute tells the developer: `order.refunded` when more money was
    /// refunded, `entitlement.changed` when the order's access was revoked or restored. Ids
    /// derive from the Stripe event, so a re-application never fires twice.
    pub(crate) fn order_charge(
        &self,
        order: &ChargedOrder,
        decision: &Decision,
        charge: &str,
        products: &[String],
    ) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let seed = format!("{}:{}", self.stripe_event, order.id);
        let mut events = Vec::new();
        if decision.refunded_more {
            let data = RefundData {
                id: &order.id,
                status: decision.status,
                end_user_id: order.end_user_id.as_deref(),
                email: order.email.as_deref(),
                amount_total: order.amount_total,
                amount_refunded: decision.amount_refunded,
                currency: &order.currency,
                full: decision.status == OrderStatus::Refunded,
                stripe_charge_id: charge,
                refunded_at: self.now,
            };
            let guard = self.order_settled(order, decision);
            events.push(self.event(EventType::OrderRefunded, &seed, &data, guard)?);
        }
        let (change, reason) = match decision.access {
            Access::Keep => return Ok(events),
            Access::Revoke(RevokedBy::Refund) => ("revoked", "refund"),
            Access::Revoke(_) => ("revoked", "dispute"),
            Access::Restore => ("granted", "dispute_won"),
        };
        let data = OrderAccessData {
            change,
            source: "order",
            reason,
            end_user_id: order.end_user_id.as_deref(),
            order_id: &order.id,
            email: order.email.as_deref(),
            product_ids: products,
            status: decision.status,
        };
        let guard = self.order_settled(order, decision);
        events.push(self.event(EventType::EntitlementChanged, &seed, &data, guard)?);
        Ok(events)
    }
}
