//! What a refund or a dispute does to a Store order, as a pure decision: the order's next
//! status, refunded amount and dispute state, and whether its entitlements are revoked or
//! restored. No access outlives the money: a full refund or an opened dispute revokes, a
//! dispute won restores only what the dispute revoked, a partial refund is recorded and
//! revokes nothing.
//!
//! Decisions are monotone so that any delivery order and any repeat settles the same way:
//! the refunded amount only grows (Stripe sends the charge's cumulative `amount_refunded`),
//! `refunded` is final, and a dispute closes once.

use crate::checkout::OrderStatus;
use serde::{Deserialize, Serialize};

/// Who took an order's entitlements back (`entitlements.revoked_by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokedBy {
    /// `POST /api/entitlements/{id}/revoke`.
    Developer,
    /// A full refund: never restored.
    Refund,
    /// An open or lost dispute: restored when the dispute is won.
    Dispute,
}

impl RevokedBy {
    /// The stored value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Developer => "developer",
            Self::Refund => "refund",
            Self::Dispute => "dispute",
        }
    }
}

/// What happens to the order's entitlements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Nothing.
    Keep,
    /// Every active one is revoked.
    Revoke(RevokedBy),
    /// Those a dispute revoked become active again.
    Restore,
}

/// What a Stripe charge event says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeChange {
    /// `charge.refunded`: the charge's cumulative refunded amount, and whether that is all of it.
    Refunded {
        /// Minor units refunded so far.
        amount_refunded: i64,
        /// The charge is refunded in full.
        full: bool,
    },
    /// `charge.dispute.created`.
    DisputeOpened,
    /// `charge.dispute.closed`; `lost` when the money went to the buyer.
    DisputeClosed {
        /// Whether the dispute was lost.
        lost: bool,
    },
}

/// Where a dispute of an order's charge stands (`orders.dispute_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// Opened by the buyer's bank; the order's access is suspended.
    Open,
    /// Closed in the seller's favour.
    Won,
    /// Closed in the buyer's favour: the money is gone.
    Lost,
}

impl DisputeStatus {
    /// The stored word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }
}

/// An order as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// `orders.status`.
    pub status: OrderStatus,
    /// `orders.amount_refunded`.
    pub amount_refunded: i64,
    /// `orders.dispute_status`.
    pub dispute_status: Option<DisputeStatus>,
}

/// The order after the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The new `orders.status`.
    pub status: OrderStatus,
    /// The new `orders.amount_refunded`.
    pub amount_refunded: i64,
    /// The new `orders.dispute_status`.
    pub dispute_status: Option<DisputeStatus>,
    /// What happens to the entitlements.
    pub access: Access,
    /// Whether more money was refunded (the developer hears `order.refunded`).
    pub refunded_more: bool,
}

/// The order after `change`, or `None` when the change is already reflected (a repeat, a
/// smaller cumulative amount, a dispute already closed) or the order was never paid.
#[must_use]
pub fn decide(order: Standing, change: ChargeChange) -> Option<Decision> {
    let status = order.status;
    if !status.was_paid() {
        return None;
    }
    let disputed = order.dispute_status;
    let same = Decision {
        status,
        amount_refunded: order.amount_refunded,
        dispute_status: disputed,
        access: Access::Keep,
        refunded_more: false,
    };
    let next = match change {
        ChargeChange::Refunded {
            amount_refunded,
            full,
        } => {
            let amount = amount_refunded.max(order.amount_refunded);
            let refunds_all = full && status != OrderStatus::Refunded;
            Decision {
                // Access granted by the order goes; a needs_attention order granted none.
                access: if refunds_all
                    && matches!(status, OrderStatus::Paid | OrderStatus::Disputed)
                {
                    Access::Revoke(RevokedBy::Refund)
                } else {
                    Access::Keep
                },
                status: if refunds_all {
                    OrderStatus::Refunded
                } else {
                    status
                },
                amount_refunded: amount,
                refunded_more: amount > order.amount_refunded,
                ..same
            }
        }
        ChargeChange::DisputeOpened => {
            if disputed.is_some() {
                return None;
            }
            let revokes = status == OrderStatus::Paid;
            Decision {
                status: if revokes {
                    OrderStatus::Disputed
                } else {
                    status
                },
                dispute_status: Some(DisputeStatus::Open),
                access: if revokes {
                    Access::Revoke(RevokedBy::Dispute)
                } else {
                    Access::Keep
                },
                ..same
            }
        }
        ChargeChange::DisputeClosed { lost } => {
            if matches!(disputed, Some(DisputeStatus::Won | DisputeStatus::Lost)) {
                return None;
            }
            let (status, access) = match (lost, status) {
                (false, OrderStatus::Disputed) => (OrderStatus::Paid, Access::Restore),
                // The opening was never applied: a lost dispute still takes the access.
                (true, OrderStatus::Paid) => {
                    (OrderStatus::Disputed, Access::Revoke(RevokedBy::Dispute))
                }
                (_, other) => (other, Access::Keep),
            };
            Decision {
                status,
                dispute_status: Some(if lost {
                    DisputeStatus::Lost
                } else {
                    DisputeStatus::Won
                }),
                access,
                ..same
            }
        }
    };
    (next != same).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DisputeStatus::{Lost, Open, Won};
    use OrderStatus::{AwaitingPayment, Disputed, Expired, Failed, Paid, Pending, Refunded};

    const PAID_ORDER: Standing = Standing {
        status: Paid,
        amount_refunded: 0,
        dispute_status: None,
    };

    fn refund(amount_refunded: i64, full: bool) -> ChargeChange {
        ChargeChange::Refunded {
            amount_refunded,
            full,
        }
    }

    #[test]
    fn a_full_refund_marks_the_order_refunded_and_revokes_for_good() {
        let decision = decide(PAID_ORDER, refund(1500, true));

        assert_eq!(
            decision,
            Some(Decision {
                status: Refunded,
                amount_refunded: 1500,
                dispute_status: None,
                access: Access::Revoke(RevokedBy::Refund),
                refunded_more: true,
            })
        );
    }

    #[test]
    fn a_partial_refund_is_recorded_and_revokes_nothing() {
        let decision = decide(PAID_ORDER, refund(500, false));

        assert_eq!(
            decision.map(|d| (d.status, d.amount_refunded, d.access, d.refunded_more)),
            Some((Paid, 500, Access::Keep, true))
        );
    }

    #[test]
    fn a_refund_already_reflected_changes_nothing() {
        let cases = [
            ("the same partial amount again", 500, 500, false, Paid),
            ("an older, smaller cumulative amount", 500, 300, false, Paid),
            (
                "a full refund of a refunded order",
                1500,
                1500,
                true,
                Refunded,
            ),
        ];
        for (why, stored, sent, full, status) in cases {
            let order = Standing {
                status,
                amount_refunded: stored,
                dispute_status: None,
            };
            assert_eq!(decide(order, refund(sent, full)), None, "{why}");
        }
    }

    #[test]
    fn orders_that_were_never_paid_are_not_touched() {
        for status in [Pending, AwaitingPayment, Failed, Expired] {
            let order = Standing {
                status,
                ..PAID_ORDER
            };
            assert_eq!(decide(order, refund(100, true)), None, "{status:?}");
            assert_eq!(
                decide(order, ChargeChange::DisputeOpened),
                None,
                "{status:?}"
            );
        }
    }

    #[test]
    fn an_opened_dispute_revokes_and_a_won_one_restores() {
        let opened = decide(PAID_ORDER, ChargeChange::DisputeOpened);
        let during = Standing {
            status: Disputed,
            amount_refunded: 0,
            dispute_status: Some(Open),
        };
        let won = decide(during, ChargeChange::DisputeClosed { lost: false });
        let lost = decide(during, ChargeChange::DisputeClosed { lost: true });

        assert_eq!(
            opened.map(|d| (d.status, d.dispute_status, d.access)),
            Some((Disputed, Some(Open), Access::Revoke(RevokedBy::Dispute)))
        );
        assert_eq!(
            won.map(|d| (d.status, d.dispute_status, d.access)),
            Some((Paid, Some(Won), Access::Restore))
        );
        assert_eq!(
            lost.map(|d| (d.status, d.dispute_status, d.access)),
            Some((Disputed, Some(Lost), Access::Keep))
        );
    }

    #[test]
    fn a_dispute_closes_once_and_never_reopens() {
        for closed in [Won, Lost] {
            let order = Standing {
                status: if closed == Won { Paid } else { Disputed },
                amount_refunded: 0,
                dispute_status: Some(closed),
            };
            assert_eq!(
                decide(order, ChargeChange::DisputeOpened),
                None,
                "{closed:?}"
            );
            assert_eq!(
                decide(order, ChargeChange::DisputeClosed { lost: false }),
                None,
                "{closed:?}"
            );
        }
    }

    #[test]
    fn a_lost_dispute_whose_opening_was_missed_still_revokes() {
        let decision = decide(PAID_ORDER, ChargeChange::DisputeClosed { lost: true });

        assert_eq!(
            decision.map(|d| (d.status, d.access)),
            Some((Disputed, Access::Revoke(RevokedBy::Dispute)))
        );
    }

    #[test]
    fn a_refunded_order_stays_refunded_through_a_dispute() {
        let refunded = Standing {
            status: Refunded,
            amount_refunded: 1500,
            dispute_status: None,
        };
        let opened = decide(refunded, ChargeChange::DisputeOpened);
        let won = decide(
            Standing {
                dispute_status: Some(Open),
                ..refunded
            },
            ChargeChange::DisputeClosed { lost: false },
        );

        assert_eq!(
            opened.map(|d| (d.status, d.access)),
            Some((Refunded, Access::Keep))
        );
        assert_eq!(
            won.map(|d| (d.status, d.access)),
            Some((Refunded, Access::Keep))
        );
    }

    #[test]
    fn a_full_refund_during_a_dispute_makes_the_revocation_final() {
        let during = Standing {
            status: Disputed,
            amount_refunded: 0,
            dispute_status: Some(Open),
        };

        let decision = decide(during, refund(1500, true));

        assert_eq!(
            decision.map(|d| (d.status, d.access)),
            Some((Refunded, Access::Revoke(RevokedBy::Refund)))
        );
    }
}
