//! Billing state written by Stripe events: `stripe_events` (the exactly-once record),
//! `subscriptions`, `checkout_sessions`, `orders`, `inventory_reservations`, `entitlements`
//! and the developer's own `platforms.billing_*`. Writes are returned unexecuted so one event
//! and all of its effects commit as one batch, the event row first.

use super::{all, first, int, opt_text, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::stripe::events::SubscriptionTerms;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// How an event was recorded.
#[derive(Clone, Debug)]
pub struct EventRecord<'a> {
    /// `evt_…`
    pub id: &'a str,
    /// The event type.
    pub kind: &'a str,
    /// The connected account, `None` for Tollgate's own.
    pub account_id: Option<&'a str>,
    /// The owning platform, when one was found.
    pub platform_id: Option<&'a str>,
    /// The owning project, when one was found.
    pub project_id: Option<&'a str>,
    /// Live or test.
    pub livemode: bool,
    /// Stripe's `created` (ms).
    pub created: i64,
    /// `applied`, `stale`, `unrelated` or `unhandled`.
    pub outcome: &'a str,
    /// When we received it (ms).
    pub received_at: i64,
}

/// The event's row: a plain INSERT, so a second delivery fails on the primary key and the
/// whole batch with it — which is what makes applying an event exactly-once.
///
/// # Errors
/// Binding failures.
pub fn record_event(
    db: &D1Database,
    event: &EventRecord<'_>,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "INSERT INTO stripe_events (id, type, account_id, platform_id, project_id, livemode, created, outcome, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[
            text(event.id),
            text(event.kind),
            opt_text(event.account_id),
            opt_text(event.platform_id),
            opt_text(event.project_id),
            int(i64::from(event.livemode)),
            int(event.created),
            text(event.outcome),
            int(event.received_at),
        ],
    )
}

/// For a re-application: drops the record of an event that was recorded without effect
/// (`stale`, `unrelated`, `unhandled`) so the insert after it can record the new outcome. An
/// `applied` record stays, so the insert conflicts and the re-application is a no-op.
///
/// # Errors
/// Binding failures.
pub fn forget_unapplied(db: &D1Database, id: &str) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "DELETE FROM stripe_events WHERE id = ?1 AND outcome != 'applied'",
        &[text(id)],
    )
}

/// Whether a batch failed because its event had been recorded already.
#[must_use]
pub fn is_duplicate_event(error: &worker::Error) -> bool {
    super::Violation::of(&error.to_string()).is_some_and(|v| v.is_unique_on("stripe_events.id"))
}

/// A recorded event, as the console lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct EventRow {
    /// `evt_…`
    pub id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The connected account.
    pub account_id: Option<String>,
    /// Live or test.
    #[serde(deserialize_with = "super::flag")]
    pub livemode: bool,
    /// Stripe's `created` (ms).
    pub created: i64,
    /// The outcome.
    pub outcome: String,
    /// When we received it (ms).
    pub received_at: i64,
}

/// A project's recorded events, newest first, and how many there are.
///
/// # Errors
/// Storage failures.
pub async fn project_events(
    db: &D1Database,
    project_id: &str,
    page: tollgate::paging::Page,
) -> Result<(Vec<EventRow>, u64), ApiError> {
    let rows = all(
        db,
        "SELECT id, type, account_id, livemode, created, outcome, received_at FROM stripe_events \
         WHERE project_id = ?1 ORDER BY received_at DESC, id DESC LIMIT ?2 OFFSET ?3",
        &[
            text(project_id),
            int(i64::from(page.page_size)),
            int(i64::from(page.offset())),
        ],
    )
    .await?;
    let total: Option<super::Count> = first(
        db,
        "SELECT COUNT(*) AS n FROM stripe_events WHERE project_id = ?1",
        &[text(project_id)],
    )
    .await?;
    Ok((rows, total.map_or(0, |c| c.n)))
}

/// One recorded event of a project.
///
/// # Errors
/// Storage failures.
pub async fn project_event(
    db: &D1Database,
    project_id: &str,
    id: &str,
) -> Result<Option<EventRow>, ApiError> {
    first(
        db,
        "SELECT id, type, account_id, livemode, created, outcome, received_at FROM stripe_events \
         WHERE project_id = ?1 AND id = ?2",
        &[text(project_id), text(id)],
    )
    .await
}

/// Which platform and mode a project belongs to.
#[derive(Clone, Debug, Deserialize)]
pub struct ProjectScope {
    /// The owner.
    pub platform_id: String,
    /// `test` or `live`.
    pub mode: String,
}

/// Marks a session `complete` or `expired` (a completed one never expires).
///
/// # Errors
/// Binding failures.
pub fn close_session(
    db: &D1Database,
    id: &str,
    status: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE checkout_sessions SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'open'",
        &[text(id), text(status), int(now)],
    )
}

/// Completes a session for its completion's effects. Unlike [`close_session`] it matches a
/// complete session too, so that migration 0009's trigger aborts the batch of a second
/// application instead of letting it write its effects beside a no-op update. A session that
/// waited for a delayed payment, or whose hold lapsed before Stripe's word came, completes
/// as well: it was paid.
///
/// # Errors
/// Binding failures.
pub fn complete_session(
    db: &D1Database,
    id: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE checkout_sessions SET status = 'complete', updated_at = ?2 WHERE id = ?1 \
         AND status IN ('open', 'awaiting_payment', 'expired', 'complete')",
        &[text(id), int(now)],
    )
}

/// A session completed at Stripe but not paid (a delayed method): it waits for
/// `checkout.session.async_payment_succeeded` or `…_failed`, granting nothing meanwhile.
///
/// # Errors
/// Binding failures.
pub fn await_session(db: &D1Database, id: &str, now: i64) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE checkout_sessions SET status = 'awaiting_payment', updated_at = ?2 WHERE id = ?1 \
         AND status IN ('open', 'expired')",
        &[text(id), int(now)],
    )
}

/// A session whose delayed payment failed (never one that was paid).
///
/// # Errors
/// Binding failures.
pub fn fail_session(db: &D1Database, id: &str, now: i64) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE checkout_sessions SET status = 'failed', updated_at = ?2 WHERE id = ?1 \
         AND status IN ('open', 'awaiting_payment', 'expired')",
        &[text(id), int(now)],
    )
}

/// A tier, for naming the plan a subscription grants.
#[derive(Clone, Debug, Deserialize)]
pub struct TierRef {
    /// `tier_…`
    pub id: String,
    /// The slug stored as the subscription's plan.
    pub name: String,
}

impl From<super::catalog::TierRow> for TierRef {
    fn from(row: super::catalog::TierRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
        }
    }
}

/// The project's tier sold at a Stripe price (current or past prices of that tier alike).
///
/// # Errors
/// Storage failures.
pub async fn tier_by_price(
    db: &D1Database,
    project_id: &str,
    price_id: &str,
) -> Result<Option<TierRef>, ApiError> {
    first(
        db,
        "SELECT id, name FROM tiers WHERE project_id = ?1 AND stripe_price_id = ?2 ORDER BY archived_at IS NULL DESC LIMIT 1",
        &[text(project_id), text(price_id)],
    )
    .await
}

/// The tier a subscription's terms grant: the tier already paid for while a scheduled
/// downgrade waits for the renewal ([`SubscriptionTerms::paid_tier_held`]), else the tier that
/// sells the price Stripe bills (never a pending update's). `None` when no tier of the project
/// fits.
///
/// # Errors
/// Storage failures.
pub async fn tier_for_terms(
    db: &D1Database,
    project_id: &str,
    terms: &SubscriptionTerms,
) -> Result<Option<TierRef>, ApiError> {
    if let Some(paid) = terms.paid_tier_held()
        && let Some(tier) = super::catalog::tier(db, project_id, paid).await?
    {
        return Ok(Some(TierRef::from(tier)));
    }
    tier_by_price(db, project_id, &terms.stripe_price_id).await
}

/// Records the end user's Stripe customer on the connected account.
///
/// # Errors
/// Binding failures.
pub fn set_stripe_customer(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
    customer: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE end_users SET stripe_customer_id = ?3, updated_at = ?4 WHERE project_id = ?1 AND id = ?2",
        &[
            text(project_id),
            text(end_user_id),
            text(customer),
            int(now),
        ],
    )
}

/// What we hold of a subscription.
#[derive(Clone, Debug, Deserialize)]
pub struct SubscriptionRow {
    /// The project.
    pub project_id: String,
    /// The subscriber.
    pub end_user_id: String,
    /// The tier granted.
    pub tier_id: Option<String>,
    /// The tier's name when granted.
    pub plan: String,
    /// Stripe's status as last applied.
    pub status: tollgate::subscription::Status,
    /// `created` of the newest event applied (ms).
    pub stripe_event_at: i64,
}

/// Who a subscription belongs to and what it grants.
#[derive(Clone, Copy, Debug)]
pub struct Grant<'a> {
    /// The project.
    pub project_id: &'a str,
    /// The subscriber.
    pub end_user_id: &'a str,
    /// The tier granted, when it is still known.
    pub tier_id: Option<&'a str>,
    /// The tier's name.
    pub plan: &'a str,
}

/// Inserts or updates the subscription by its Stripe id. The update happens only when the
/// event is not older than the state stored, and only within the same project, so neither a
/// late event nor a forged reference can overwrite what is there.
///
/// # Errors
/// Binding failures.
pub fn upsert_subscription(
    db: &D1Database,
    grant: Grant<'_>,
    terms: &SubscriptionTerms,
    event_at: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "INSERT INTO subscriptions (id, project_id, end_user_id, tier_id, plan, stripe_subscription_id, stripe_customer_id, \
           stripe_price_id, status, amount, currency, interval, current_period_start, current_period_end, \
           cancel_at_period_end, canceled_at, stripe_event_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18) \
         ON CONFLICT (stripe_subscription_id) DO UPDATE SET \
           tier_id = excluded.tier_id, plan = excluded.plan, stripe_customer_id = excluded.stripe_customer_id, \
           stripe_price_id = excluded.stripe_price_id, status = excluded.status, amount = excluded.amount, \
           currency = excluded.currency, interval = excluded.interval, \
           current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end, \
           cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at, \
           stripe_event_at = excluded.stripe_event_at, updated_at = excluded.updated_at \
         WHERE excluded.stripe_event_at >= subscriptions.stripe_event_at \
           AND subscriptions.project_id = excluded.project_id",
        &[
            text(&tollgate::ids::new_id("subr")),
            text(grant.project_id),
            text(grant.end_user_id),
            opt_text(grant.tier_id),
            text(grant.plan),
            text(&terms.stripe_subscription_id),
            text(&terms.stripe_customer_id),
            text(&terms.stripe_price_id),
            text(terms.status.as_str()),
            int(terms.amount),
            text(&terms.currency),
            text(terms.interval),
            opt_int(terms.period_start),
            opt_int(terms.period_end),
            int(i64::from(terms.cancel_at_period_end)),
            opt_int(terms.canceled_at),
            int(event_at),
            int(now),
        ],
    )
}

fn opt_int(value: Option<i64>) -> JsValue {
    value.map_or(JsValue::NULL, int)
}

/// Moves the subscription's period to the one an invoice paid for — only forward, so a late
/// invoice of an earlier period never moves it back. A new start means metering counts from
/// zero.
///
/// # Errors
/// Binding failures.
pub fn pay_period(
    db: &D1Database,
    stripe_subscription_id: &str,
    start: i64,
    end: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE subscriptions SET current_period_start = ?2, current_period_end = ?3, updated_at = ?4 \
         WHERE stripe_subscription_id = ?1 AND (current_period_start IS NULL OR current_period_start <= ?2)",
        &[text(stripe_subscription_id), int(start), int(end), int(now)],
    )
}

/// Money a subscription brought in or gave back, for the dashboard's revenue series.
#[derive(Clone, Copy, Debug)]
pub enum Revenue<'a> {
    /// A paid invoice (`in_…`) and what it took.
    Payment {
        /// `in_…`
        invoice_id: &'a str,
        /// Minor units paid.
        amount: i64,
    },
    /// A subscription's charge (`ch_…`) and what has been refunded of it so far.
    Refund {
        /// `ch_…`
        charge_id: &'a str,
        /// Minor units refunded, cumulative.
        refunded: i64,
    },
}

/// Records `revenue` for the project's subscription (`subscription_payments`), in
/// `currency`, dated `paid_at` (ms: the payment, or the refunded charge). A payment is
/// recorded once; a refund's row follows the cumulative amount, never down (an older event
/// applied late changes nothing).
///
/// # Errors
/// Binding failures.
pub fn record_revenue(
    db: &D1Database,
    project_id: &str,
    stripe_subscription_id: &str,
    revenue: Revenue<'_>,
    currency: &str,
    paid_at: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    let (id, kind, amount) = match revenue {
        Revenue::Payment { invoice_id, amount } => (invoice_id, "payment", amount),
        Revenue::Refund {
            charge_id,
            refunded,
        } => (charge_id, "refund", refunded),
    };
    stmt(
        db,
        "INSERT INTO subscription_payments (id, project_id, stripe_subscription_id, kind, amount, currency, paid_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
         ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, updated_at = excluded.updated_at \
         WHERE subscription_payments.kind = 'refund' AND excluded.amount > subscription_payments.amount",
        &[
            text(id),
            text(project_id),
            text(stripe_subscription_id),
            text(kind),
            int(amount.max(0)),
            text(currency),
            int(paid_at),
            int(now),
        ],
    )
}

/// A failed renewal: an active or trialing subscription becomes `past_due` (metering then
/// falls back to the default tier) unless newer state is stored.
///
/// # Errors
/// Binding failures.
pub fn mark_past_due(
    db: &D1Database,
    stripe_subscription_id: &str,
    event_at: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        concat!(
            "UPDATE subscriptions SET status = 'past_due', stripe_event_at = ?2, updated_at = ?3 \
         WHERE stripe_subscription_id = ?1 AND stripe_event_at <= ?2 AND status IN ",
            giving_access!()
        ),
        &[text(stripe_subscription_id), int(event_at), int(now)],
    )
}

/// The orders a Stripe payment may still settle: not yet paid, failed or refunded.
const SETTLING: &str = "('pending', 'awaiting_payment', 'expired')";

/// Takes the units of an order's `released` lines out of stock again (a hold that lapsed
/// before the payment's word came), marking them `to` (`held` or `committed`). The caller
/// checked the stock first; should another cart take it meanwhile, the inventory's
/// `CHECK (inventory >= 0)` aborts the whole batch and Stripe retries, so stock never goes
/// negative.
fn retake(
    db: &D1Database,
    order_id: &str,
    to: &str,
    now: i64,
) -> Result<[D1PreparedStatement; 2], ApiError> {
    Ok([
        stmt(
            db,
            &format!(
                "UPDATE products SET inventory = inventory - (SELECT r.quantity FROM inventory_reservations r \
             WHERE r.order_id = ?1 AND r.product_id = products.id AND r.status = 'released') \
             WHERE inventory IS NOT NULL AND id IN (SELECT product_id FROM inventory_reservations WHERE order_id = ?1 AND status = 'released') \
             AND EXISTS (SELECT 1 FROM orders WHERE id = ?1 AND status IN {SETTLING})"
            ),
            &[text(order_id)],
        )?,
        stmt(
            db,
            &format!(
                "UPDATE inventory_reservations SET status = ?2, updated_at = ?3 WHERE order_id = ?1 AND status = 'released' \
             AND EXISTS (SELECT 1 FROM orders WHERE id = ?1 AND status IN {SETTLING})"
            ),
            &[text(order_id), text(to), int(now)],
        )?,
    ])
}

/// A paid order: the order becomes `paid`, each line grants an entitlement (once per
/// product), and its stock becomes committed — held stock already left
/// `products.inventory`; with `retake`, lines whose hold lapsed take theirs again first.
///
/// # Errors
/// Binding failures.
pub fn pay_order(
    db: &D1Database,
    project_id: &str,
    order_id: &str,
    product_ids: &[String],
    payment_intent: Option<&str>,
    retake_lapsed: bool,
    now: i64,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let mut statements = Vec::new();
    if retake_lapsed {
        statements.extend(retake(db, order_id, "held", now)?);
    }
    statements.push(settle_order(
        db,
        project_id,
        order_id,
        "paid",
        payment_intent,
        now,
    )?);
    for product_id in product_ids {
        statements.push(stmt(
            db,
            "INSERT INTO entitlements (id, project_id, order_id, product_id, end_user_id, email, status, granted_at) \
             SELECT ?1, o.project_id, o.id, ?4, o.end_user_id, o.email, 'active', ?5 FROM orders o \
             WHERE o.project_id = ?2 AND o.id = ?3 AND o.status = 'paid' \
             ON CONFLICT (order_id, product_id) DO NOTHING",
            &[
                text(&tollgate::ids::new_id("ent")),
                text(project_id),
                text(order_id),
                text(product_id),
                int(now),
            ],
        )?);
    }
    statements.push(stmt(
        db,
        "UPDATE inventory_reservations SET status = 'committed', updated_at = ?2 WHERE order_id = ?1 AND status = 'held' \
         AND EXISTS (SELECT 1 FROM orders WHERE id = ?1 AND status = 'paid')",
        &[text(order_id), int(now)],
    )?);
    Ok(statements)
}

/// A paid order whose lapsed hold cannot be taken again (the stock is gone): `needs_attention`,
/// with the payment recorded and nothing granted or taken — the developer refunds or restocks.
///
/// # Errors
/// Binding failures.
pub fn order_needs_attention(
    db: &D1Database,
    project_id: &str,
    order_id: &str,
    payment_intent: Option<&str>,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    settle_order(
        db,
        project_id,
        order_id,
        "needs_attention",
        payment_intent,
        now,
    )
}

/// A settling order takes its final `status` with the payment recorded.
fn settle_order(
    db: &D1Database,
    project_id: &str,
    order_id: &str,
    status: &str,
    payment_intent: Option<&str>,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        &format!(
            "UPDATE orders SET status = ?5, paid_at = ?3, stripe_payment_intent_id = ?4, updated_at = ?3 \
             WHERE project_id = ?1 AND id = ?2 AND status IN {SETTLING}"
        ),
        &[
            text(project_id),
            text(order_id),
            int(now),
            opt_text(payment_intent),
            text(status),
        ],
    )
}

/// An order whose session completed unpaid: `awaiting_payment`, its stock still held (with
/// `retake`, a lapsed hold is taken again first), nothing granted.
///
/// # Errors
/// Binding failures.
pub fn await_order(
    db: &D1Database,
    order_id: &str,
    retake_lapsed: bool,
    now: i64,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let mut statements = Vec::new();
    if retake_lapsed {
        statements.extend(retake(db, order_id, "held", now)?);
    }
    statements.push(stmt(
        db,
        "UPDATE orders SET status = 'awaiting_payment', updated_at = ?2 WHERE id = ?1 AND status IN ('pending', 'expired')",
        &[text(order_id), int(now)],
    )?);
    Ok(statements)
}

/// The developer's own Tollgate subscription as one event states it.
#[derive(Clone, Copy, Debug)]
pub struct PlatformBilling<'a> {
    /// The platform billed.
    pub platform_id: &'a str,
    /// `platforms.billing_status`.
    pub status: &'a str,
    /// `cus_…` on Tollgate's own account.
    pub customer: &'a str,
    /// `sub_…` on Tollgate's own account.
    pub subscription: &'a str,
    /// End of the paid period (ms).
    pub period_end: Option<i64>,
    /// The event's `created` (ms).
    pub event_at: i64,
}

/// Writes the developer's own subscription state (which gates live keys) unless a newer
/// billing event was applied.
///
/// # Errors
/// Binding failures.
pub fn platform_billing(
    db: &D1Database,
    billing: &PlatformBilling<'_>,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE platforms SET billing_status = ?2, billing_customer_id = ?3, billing_subscription_id = ?4, \
           current_period_end = ?5, billing_event_at = ?6, updated_at = ?7 \
         WHERE id = ?1 AND (billing_event_at IS NULL OR billing_event_at <= ?6)",
        &[
            text(billing.platform_id),
            text(billing.status),
            text(billing.customer),
            text(billing.subscription),
            opt_int(billing.period_end),
            int(billing.event_at),
            int(now),
        ],
    )
}

/// The subscription an end user manages: their newest one that has not ended.
#[derive(Clone, Debug, Deserialize)]
pub struct HeldSubscription {
    /// `sub_…`
    pub stripe_subscription_id: String,
    /// The tier granted, when it is still known.
    pub tier_id: Option<String>,
    /// The tier's name when granted.
    pub plan: String,
    /// The price applied last (the webhook's view).
    pub stripe_price_id: Option<String>,
    /// Stripe's status as last applied.
    pub status: String,
    /// Minor units per interval.
    pub amount: i64,
    /// Lower-case ISO currency.
    pub currency: String,
    /// `month` or `year`.
    pub interval: String,
    /// Milliseconds.
    pub current_period_start: Option<i64>,
    /// Milliseconds.
    pub current_period_end: Option<i64>,
    /// Whether it ends at the period's end.
    #[serde(deserialize_with = "super::flag")]
    pub cancel_at_period_end: bool,
}

/// The end user's live subscription in the project, as the webhooks last applied it.
///
/// # Errors
/// Storage failures.
pub async fn held_by(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
) -> Result<Option<HeldSubscription>, ApiError> {
    first(
        db,
        "SELECT stripe_subscription_id, tier_id, plan, stripe_price_id, status, amount, currency, interval, \
           current_period_start, current_period_end, cancel_at_period_end \
         FROM subscriptions WHERE project_id = ?1 AND end_user_id = ?2 \
           AND status NOT IN ('canceled', 'incomplete_expired') \
         ORDER BY created_at DESC LIMIT 1",
        &[text(project_id), text(end_user_id)],
    )
    .await
}
