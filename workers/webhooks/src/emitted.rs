//! The developer events a Stripe event causes (`subscription.updated`, `order.completed`,
//! `entitlement.changed`): each is a fan-out statement that joins the Stripe event's own
//! batch, guarded so it reports only a change the batch really made. Ids derive from the
//! Stripe event (or the order), so re-applying an event never fires twice.

use serde_json::{Value, json};
use tollgate::Mode;
use tollgate::outbound::{Envelope, EventType, event_id};
use tollgate::stripe::events::SubscriptionTerms;
use tollgate_edge::ApiError;
use tollgate_edge::db::billing::Grant;
use tollgate_edge::db::checkout::{OrderLine, OrderRow};
use tollgate_edge::db::{int, text};
use tollgate_edge::outbound::fan_out;
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

/// Whether a subscription status gives access (metering counts only these).
pub(crate) fn gives_access(status: &str) -> bool {
    matches!(status, "active" | "trialing")
}

impl Origin<'_> {
    fn event(
        &self,
        kind: EventType,
        seed: &str,
        data: &Value,
        guard: (&str, Vec<wasm_bindgen::JsValue>),
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
        let sub = &terms.stripe_subscription_id;
        let view = json!({
            "stripeSubscriptionId": sub,
            "stripeCustomerId": terms.stripe_customer_id,
            "endUserId": grant.end_user_id,
            "tierId": grant.tier_id,
            "plan": grant.plan,
            "status": terms.status,
            "amount": terms.amount,
            "currency": terms.currency,
            "interval": terms.interval,
            "currentPeriodStart": terms.period_start,
            "currentPeriodEnd": terms.period_end,
            "cancelAtPeriodEnd": terms.cancel_at_period_end,
            "canceledAt": terms.canceled_at,
        });
        let guard = || {
            (
                "EXISTS (SELECT 1 FROM subscriptions WHERE stripe_subscription_id = ?8 AND stripe_event_at = ?9 AND updated_at = ?10)",
                vec![text(sub), int(event_at), int(self.now)],
            )
        };
        let seed = format!("{}:{sub}", self.stripe_event);
        let mut events = vec![self.event(EventType::SubscriptionUpdated, &seed, &view, guard())?];
        let has_access = gives_access(terms.status);
        if has_access != had_access {
            let data = json!({
                "change": if has_access { "granted" } else { "revoked" },
                "source": "subscription",
                "endUserId": grant.end_user_id,
                "stripeSubscriptionId": sub,
                "tierId": grant.tier_id,
                "plan": grant.plan,
                "status": terms.status,
            });
            events.push(self.event(EventType::EntitlementChanged, &seed, &data, guard())?);
        }
        Ok(events)
    }

    /// `subscription.updated` for a change made by a plain UPDATE of the row (a renewal's new
    /// period, a failed renewal), written only if that UPDATE took effect at this moment, and
    /// `entitlement.changed` when `access` says access was lost or gained.
    pub(crate) fn subscription_row(
        &self,
        stripe_subscription: &str,
        end_user_id: &str,
        change: &Value,
        access: Option<bool>,
    ) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let guard = || {
            (
                "EXISTS (SELECT 1 FROM subscriptions WHERE stripe_subscription_id = ?8 AND updated_at = ?9)",
                vec![text(stripe_subscription), int(self.now)],
            )
        };
        let mut view = json!({
            "stripeSubscriptionId": stripe_subscription,
            "endUserId": end_user_id,
        });
        if let (Some(view), Some(change)) = (view.as_object_mut(), change.as_object()) {
            view.extend(change.clone());
        }
        let seed = format!("{}:{stripe_subscription}", self.stripe_event);
        let mut events = vec![self.event(EventType::SubscriptionUpdated, &seed, &view, guard())?];
        if let Some(granted) = access {
            let data = json!({
                "change": if granted { "granted" } else { "revoked" },
                "source": "subscription",
                "endUserId": end_user_id,
                "stripeSubscriptionId": stripe_subscription,
                "status": view["status"],
            });
            events.push(self.event(EventType::EntitlementChanged, &seed, &data, guard())?);
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
        let items: Vec<Value> = lines
            .iter()
            .map(|l| {
                json!({ "productId": l.product_id, "name": l.name, "quantity": l.quantity, "unitAmount": l.unit_amount })
            })
            .collect();
        let products: Vec<&str> = lines.iter().map(|l| l.product_id.as_str()).collect();
        let order_view = json!({
            "id": order.id,
            "status": "paid",
            "endUserId": order.end_user_id,
            "email": order.email,
            "amountTotal": order.amount_total,
            "currency": order.currency,
            "items": items,
            "createdAt": order.created_at,
            "paidAt": self.now,
        });
        let access = json!({
            "change": "granted",
            "source": "order",
            "orderId": order.id,
            "endUserId": order.end_user_id,
            "email": order.email,
            "productIds": products,
        });
        Ok(vec![
            self.event(EventType::OrderCompleted, &order.id, &order_view, guard())?,
            self.event(EventType::EntitlementChanged, &order.id, &access, guard())?,
        ])
    }
}
