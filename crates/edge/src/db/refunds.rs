//! Refunds and disputes: writing what [`tollgate::refunds::decide`] decided — the order's new
//! state and its entitlements revoked or restored — as statements for the event's batch. (The
//! order a charge paid is found with the event's other reads: [`super::event_reads::Charged`].)
//! The order's UPDATE is guarded by the state the decision was made from, and every later
//! statement by the UPDATE having happened at this moment, so a concurrent event for the same
//! charge can never apply on stale ground.

use super::{int, opt_text, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::checkout::OrderStatus;
use tollgate::refunds::{Access, Decision, DisputeStatus, Standing};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// An order paid through a charge on a connected account, with what refunds and disputes read.
#[derive(Clone, Debug, Deserialize)]
pub struct ChargedOrder {
    /// `ord_…`
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// The buyer, when signed in.
    pub end_user_id: Option<String>,
    /// The buyer's email.
    pub email: Option<String>,
    /// `orders.status`.
    pub status: OrderStatus,
    /// Total in minor units.
    pub amount_total: i64,
    /// Refunded so far, minor units.
    pub amount_refunded: i64,
    /// Currency.
    pub currency: String,
    /// Its dispute, if any.
    pub dispute_status: Option<DisputeStatus>,
    /// `created` of the last dispute event applied (ms).
    pub dispute_event_at: Option<i64>,
}

impl ChargedOrder {
    /// The order as the decision reads it.
    #[must_use]
    pub fn standing(&self) -> Standing {
        Standing {
            status: self.status,
            amount_refunded: self.amount_refunded,
            dispute_status: self.dispute_status,
        }
    }
}

/// The guard of every statement after the order's UPDATE: that UPDATE took effect now.
const SETTLED: &str = "EXISTS (SELECT 1 FROM orders WHERE id = ?1 AND updated_at = ?2 AND status = ?3 AND amount_refunded = ?4)";

/// The order's new state and what happens to its entitlements. `dispute_event_at` is the
/// event's `created` (ms) for dispute events.
///
/// # Errors
/// Binding failures.
pub fn settle(
    db: &D1Database,
    order: &ChargedOrder,
    decision: &Decision,
    charge: &str,
    dispute_event_at: Option<i64>,
    now: i64,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let settled = |extra: &[JsValue]| {
        let mut params = vec![
            text(&order.id),
            int(now),
            text(decision.status.as_str()),
            int(decision.amount_refunded),
        ];
        params.extend_from_slice(extra);
        params
    };
    let mut statements = vec![stmt(
        db,
        "UPDATE orders SET status = ?3, amount_refunded = ?4, dispute_status = ?5, \
           stripe_charge_id = COALESCE(stripe_charge_id, ?6), dispute_event_at = COALESCE(?7, dispute_event_at), updated_at = ?2 \
         WHERE id = ?1 AND status = ?8 AND amount_refunded = ?9 AND dispute_status IS ?10",
        &[
            text(&order.id),
            int(now),
            text(decision.status.as_str()),
            int(decision.amount_refunded),
            opt_text(decision.dispute_status.map(DisputeStatus::as_str)),
            text(charge),
            dispute_event_at.map_or(JsValue::NULL, int),
            text(order.status.as_str()),
            int(order.amount_refunded),
            opt_text(order.dispute_status.map(DisputeStatus::as_str)),
        ],
    )?];
    match decision.access {
        Access::Keep => {}
        // A refund also takes over what a dispute revoked, so winning it later restores nothing.
        Access::Revoke(by) => statements.push(stmt(
            db,
            &format!(
                "UPDATE entitlements SET status = 'revoked', revoked_at = COALESCE(revoked_at, ?2), revoked_by = ?5 \
                 WHERE order_id = ?1 AND (status = 'active' OR revoked_by = 'dispute') AND {SETTLED}"
            ),
            &settled(&[text(by.as_str())]),
        )?),
        Access::Restore => statements.push(stmt(
            db,
            &format!(
                "UPDATE entitlements SET status = 'active', revoked_at = NULL, revoked_by = NULL \
                 WHERE order_id = ?1 AND status = 'revoked' AND revoked_by = 'dispute' AND {SETTLED}"
            ),
            &settled(&[]),
        )?),
    }
    Ok(statements)
}

/// The subscription of the customer a charge billed on `account`, when it is one of ours
/// (a subscription's charge, not an order's): its row id, Stripe id and project.
#[derive(Clone, Debug, Deserialize)]
pub struct ChargedSubscription {
    /// `sub_…`
    pub stripe_subscription_id: String,
    /// Its project.
    pub project_id: String,
    /// Its status as last applied.
    pub status: tollgate::subscription::Status,
}
