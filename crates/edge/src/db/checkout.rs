//! Checkout storage: the sessions Tollgate opened on Stripe, the end user's Stripe customer,
//! and Store orders with their inventory reservations.
//!
//! A reservation takes units out of `products.inventory` in the same batch as the order; the
//! column's `CHECK (inventory >= 0)` aborts the whole batch when any line would go negative,
//! so concurrent carts can never oversell. Units come back when the session expires.

use super::catalog::ProductRow;
use super::{all, first, int, opt_text, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::checkout::{LineStatus, SessionKind, SessionStatus};
use tollgate::holds::CheckoutLimits;
use worker::{D1Database, D1PreparedStatement};

/// How long after a cart session's expiry its stock is released lazily: a payment made just
/// before the expiry must still find its units when its webhook arrives.
pub const RELEASE_GRACE_MS: i64 = 15 * 60 * 1000;

/// A project's redirect origins (JSON array in the row).
///
/// # Errors
/// Storage failures.
pub async fn redirect_origins(db: &D1Database, project_id: &str) -> Result<Vec<String>, ApiError> {
    Ok(settings(db, project_id).await?.0)
}

/// A project's redirect origins and its checkout limits, in one read.
///
/// # Errors
/// Storage failures.
pub async fn settings(
    db: &D1Database,
    project_id: &str,
) -> Result<(Vec<String>, CheckoutLimits), ApiError> {
    #[derive(Deserialize)]
    struct Row {
        redirect_origins: String,
        checkout_limits: String,
    }
    let row: Option<Row> = first(
        db,
        "SELECT redirect_origins, checkout_limits FROM projects WHERE id = ?1",
        &[text(project_id)],
    )
    .await?;
    Ok(row.map_or_else(Default::default, |r| {
        (
            serde_json::from_str(&r.redirect_origins).unwrap_or_default(),
            CheckoutLimits::from_column(&r.checkout_limits),
        )
    }))
}

/// Remembers the end user's Stripe customer (only if none was stored meanwhile).
///
/// # Errors
/// Binding failures.
pub fn set_stripe_customer(
    db: &D1Database,
    end_user_id: &str,
    customer: &str,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "UPDATE end_users SET stripe_customer_id = ?2, updated_at = ?3 WHERE id = ?1 AND stripe_customer_id IS NULL",
        &[text(end_user_id), text(customer), int(now)],
    )
}

/// Whether the end user already holds a subscription to the tier that is active or trialing.
///
/// # Errors
/// Storage failures.
pub async fn subscribed(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
    tier_id: &str,
) -> Result<bool, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        n: i64,
    }
    let row: Option<Row> = first(
        db,
        "SELECT COUNT(*) AS n FROM subscriptions WHERE project_id = ?1 AND end_user_id = ?2 AND tier_id = ?3 \
         AND status IN ('active', 'trialing', 'past_due')",
        &[text(project_id), text(end_user_id), text(tier_id)],
    )
    .await?;
    Ok(row.is_some_and(|r| r.n > 0))
}

/// How long a trial claim may name no session before it counts as abandoned (its request
/// died between the claim and the session).
const TRIAL_CLAIM_MS: i64 = 5 * 60 * 1000;

/// Takes the end user's one free trial in the project, atomically: `true` when this call
/// holds it (first claim, or the previous one's session expired or failed unpaid, or it was
/// abandoned), `false` when the trial was had.
///
/// # Errors
/// Storage failures.
pub async fn claim_trial(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
    now: i64,
) -> Result<bool, ApiError> {
    let row: Option<super::Count> = first(
        db,
        "INSERT INTO trial_claims (project_id, end_user_id, claimed_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (project_id, end_user_id) DO UPDATE SET session_id = NULL, claimed_at = ?3 \
         WHERE (trial_claims.session_id IS NULL AND trial_claims.claimed_at < ?4) \
         OR trial_claims.session_id IN (SELECT id FROM checkout_sessions WHERE status IN ('expired', 'failed')) \
         RETURNING 1 AS n",
        &[text(project_id), text(end_user_id), int(now), int(now - TRIAL_CLAIM_MS)],
    )
    .await?;
    Ok(row.is_some())
}

/// Names the session a trial claim taken at `claimed_at` was for (with `Some`), or gives
/// the claim back when no session was opened (`None`).
///
/// # Errors
/// Binding failures.
pub fn settle_trial(
    db: &D1Database,
    project_id: &str,
    end_user_id: &str,
    claimed_at: i64,
    session_id: Option<&str>,
) -> Result<D1PreparedStatement, ApiError> {
    let mut args = vec![text(project_id), text(end_user_id), int(claimed_at)];
    let sql = match session_id {
        Some(id) => {
            args.push(text(id));
            "UPDATE trial_claims SET session_id = ?4 \
             WHERE project_id = ?1 AND end_user_id = ?2 AND claimed_at = ?3 AND session_id IS NULL"
        }
        None => {
            "DELETE FROM trial_claims \
             WHERE project_id = ?1 AND end_user_id = ?2 AND claimed_at = ?3 AND session_id IS NULL"
        }
    };
    stmt(db, sql, &args)
}

/// A checkout session Tollgate opened.
#[derive(Clone, Debug, Deserialize)]
pub struct SessionRow {
    /// Stripe's `cs_…`.
    pub id: String,
    /// Owner project.
    pub project_id: String,
    /// The connected account it lives on.
    pub account_id: String,
    /// What it sells.
    pub kind: SessionKind,
    /// The buyer, when known.
    pub end_user_id: Option<String>,
    /// For subscriptions.
    pub tier_id: Option<String>,
    /// For carts.
    pub order_id: Option<String>,
    /// Where it stands.
    pub status: SessionStatus,
    /// When Stripe expires it (ms).
    pub expires_at: i64,
    /// Creation time (ms).
    pub created_at: i64,
}

/// The insert of a session row.
///
/// # Errors
/// Binding failures.
pub fn insert_session(db: &D1Database, row: &SessionRow) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        "INSERT INTO checkout_sessions (id, project_id, account_id, kind, end_user_id, tier_id, order_id, status, expires_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8, ?9, ?9)",
        &[
            text(&row.id),
            text(&row.project_id),
            text(&row.account_id),
            text(row.kind.as_str()),
            opt_text(row.end_user_id.as_deref()),
            opt_text(row.tier_id.as_deref()),
            opt_text(row.order_id.as_deref()),
            int(row.expires_at),
            int(row.created_at),
        ],
    )
}

/// One of the project's sessions; another project's is `None`.
///
/// # Errors
/// Storage failures.
pub async fn session(
    db: &D1Database,
    project_id: &str,
    id: &str,
) -> Result<Option<SessionRow>, ApiError> {
    first(
        db,
        "SELECT id, project_id, account_id, kind, end_user_id, tier_id, order_id, status, expires_at, created_at \
         FROM checkout_sessions WHERE project_id = ?1 AND id = ?2",
        &[text(project_id), text(id)],
    )
    .await
}

/// A line of an order, for the status answer.
#[derive(Clone, Debug, Deserialize)]
pub struct OrderLine {
    /// Our product.
    pub product_id: String,
    /// Its slug.
    pub name: String,
    /// Units.
    pub quantity: i64,
    /// Minor units each.
    pub unit_amount: i64,
    /// Its stock: held, committed or given back.
    pub status: LineStatus,
}

/// The lines of one of the project's orders (none for another project's).
///
/// # Errors
/// Storage failures.
pub async fn order_lines(
    db: &D1Database,
    project_id: &str,
    order_id: &str,
) -> Result<Vec<OrderLine>, ApiError> {
    all(
        db,
        "SELECT r.product_id, p.name, r.quantity, r.unit_amount, r.status FROM inventory_reservations r \
         JOIN products p ON p.id = r.product_id AND p.project_id = ?1 WHERE r.order_id = ?2 ORDER BY p.name",
        &[text(project_id), text(order_id)],
    )
    .await
}

/// The project's selling products named by id or Stripe price id.
///
/// # Errors
/// Storage failures.
pub async fn cart_products(
    db: &D1Database,
    project_id: &str,
    ids: &[&str],
    price_ids: &[&str],
) -> Result<Vec<ProductRow>, ApiError> {
    let list = |values: &[&str]| serde_json::Value::from(values.to_vec()).to_string();
    all(
        db,
        "SELECT id, name, display_name, description, price, currency, features, image_url, inventory, stripe_product_id, stripe_price_id, \
         sort_order, archived_at, created_at, updated_at FROM products WHERE project_id = ?1 AND archived_at IS NULL \
         AND (id IN (SELECT value FROM json_each(?2)) OR stripe_price_id IN (SELECT value FROM json_each(?3)))",
        &[text(project_id), text(&list(ids)), text(&list(price_ids))],
    )
    .await
}

/// A line to reserve.
#[derive(Clone, Copy, Debug)]
pub struct Reservation<'a> {
    /// Our product.
    pub product_id: &'a str,
    /// Units.
    pub quantity: i64,
    /// Minor units each, from the product.
    pub unit_amount: i64,
}

/// A pending order as a cart opens it.
#[derive(Clone, Copy, Debug)]
pub struct NewOrder<'a> {
    /// `ord_…`
    pub id: &'a str,
    /// Owner project.
    pub project_id: &'a str,
    /// The signed-in buyer.
    pub end_user_id: Option<&'a str>,
    /// The buyer's email.
    pub email: Option<&'a str>,
    /// A guest's hashed client address ([`tollgate::holds::client_key`]); `None` for the
    /// developer's server and signed-in buyers.
    pub client_key: Option<&'a str>,
    /// Currency.
    pub currency: &'a str,
}

/// The held units of the order's buyer: the end user's, or a guest's by email or by client
/// address (either one: rotating one of them is not a new buyer).
macro_rules! buyer_holds {
    () => {
        "SELECT COALESCE(SUM(r.quantity), 0) FROM inventory_reservations r JOIN orders o ON o.id = r.order_id \
         WHERE r.status = 'held' AND o.project_id = ?2 \
         AND (o.end_user_id = ?3 OR (?3 IS NULL AND o.end_user_id IS NULL AND (o.client_key = ?8 OR o.email = ?4)))"
    };
}

/// The order row, written only while the buyer stays within the limits (`?9 < 0`: none):
/// each line's units (`?13`, `{product: units, …}`) plus those held of it at most `?9`, the
/// cart's units (`?12`) plus all held at most `?10`, and for a guest (`?8`) fewer than `?11`
/// open guest carts.
const RESERVE_ORDER: &str = concat!(
    "INSERT INTO orders (id, project_id, end_user_id, email, status, amount_total, currency, created_at, updated_at, client_key) \
     SELECT ?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?7, ?8 WHERE ?9 < 0 OR (NOT EXISTS (SELECT 1 FROM json_each(?13) l WHERE l.value + (",
    buyer_holds!(),
    " AND r.product_id = l.key) > ?9) AND ?12 + (",
    buyer_holds!(),
    ") <= ?10 AND (?8 IS NULL OR (SELECT COUNT(*) FROM orders WHERE project_id = ?2 AND client_key IS NOT NULL \
     AND status = 'pending') < ?11))"
);

/// A pending order and its reservations: the order row, then per line the stock decrement
/// (which aborts the batch through the CHECK constraint when stock is short) and the `held`
/// reservation.
///
/// With `limits`, the order row is written only while the buyer stays within them — per
/// product and in all, and for a guest while the project's open guest carts are fewer than
/// its limit — and every later statement only if the order row exists, so one atomic batch
/// both counts and holds: parallel carts cannot slip past a limit. A refused order changes
/// nothing and the batch's first count is 0.
///
/// # Errors
/// Binding failures.
pub fn reserve(
    db: &D1Database,
    order: &NewOrder<'_>,
    lines: &[Reservation<'_>],
    limits: Option<&CheckoutLimits>,
    now: i64,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let total: i64 = lines.iter().map(|l| l.quantity * l.unit_amount).sum();
    let units: i64 = lines.iter().map(|l| l.quantity).sum();
    // `{product: units, …}`; ids are `prd_` + base62, nothing to escape.
    let wanted: Vec<String> = lines
        .iter()
        .map(|l| format!("\"{}\":{}", l.product_id, l.quantity))
        .collect();
    let (per_product, per_buyer, guest_carts) = limits.map_or((-1, -1, -1), |l| {
        (l.units_per_product, l.units_per_buyer, l.guest_carts)
    });
    let mut statements = vec![stmt(
        db,
        RESERVE_ORDER,
        &[
            text(order.id),
            text(order.project_id),
            opt_text(order.end_user_id),
            opt_text(order.email),
            int(total),
            text(order.currency),
            int(now),
            opt_text(order.client_key),
            int(per_product),
            int(per_buyer),
            int(guest_carts),
            int(units),
            text(&format!("{{{}}}", wanted.join(","))),
        ],
    )?];
    for line in lines {
        statements.push(stmt(
            db,
            "UPDATE products SET inventory = inventory - ?3 WHERE id = ?1 AND project_id = ?2 AND inventory IS NOT NULL \
             AND EXISTS (SELECT 1 FROM orders WHERE id = ?4)",
            &[text(line.product_id), text(order.project_id), int(line.quantity), text(order.id)],
        )?);
        statements.push(stmt(
            db,
            "INSERT INTO inventory_reservations (order_id, product_id, quantity, unit_amount, status, created_at, updated_at) \
             SELECT ?1, ?2, ?3, ?4, 'held', ?5, ?5 WHERE EXISTS (SELECT 1 FROM orders WHERE id = ?1)",
            &[text(order.id), text(line.product_id), int(line.quantity), int(line.unit_amount), int(now)],
        )?);
    }
    Ok(statements)
}

/// Whether the project has as many open guest carts as `limit`.
///
/// # Errors
/// Storage failures.
pub async fn guest_carts_full(
    db: &D1Database,
    project_id: &str,
    limit: i64,
) -> Result<bool, ApiError> {
    let row: Option<super::Count> = first(
        db,
        "SELECT COUNT(*) AS n FROM orders WHERE project_id = ?1 AND client_key IS NOT NULL AND status = 'pending'",
        &[text(project_id)],
    )
    .await?;
    Ok(row.is_some_and(|r| i64::try_from(r.n).unwrap_or(i64::MAX) >= limit))
}

/// Gives an order's `held` units back and marks it expired (and its session, if any). Only
/// rows still `held` count, so a second release — the lazy one here, or the expiry webhook —
/// adds nothing. An order awaiting a delayed payment is not `pending` and its session not
/// `open`: neither expires, and the stock stays held for the payment.
///
/// # Errors
/// Binding failures.
pub fn release(
    db: &D1Database,
    order_id: &str,
    now: i64,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let order = [text(order_id), int(now)];
    Ok(vec![
        stmt(
            db,
            "UPDATE products SET inventory = inventory + (SELECT r.quantity FROM inventory_reservations r \
             WHERE r.order_id = ?1 AND r.product_id = products.id AND r.status = 'held') \
             WHERE inventory IS NOT NULL AND id IN (SELECT product_id FROM inventory_reservations WHERE order_id = ?1 AND status = 'held')",
            &[text(order_id)],
        )?,
        stmt(
            db,
            "UPDATE inventory_reservations SET status = 'released', updated_at = ?2 WHERE order_id = ?1 AND status = 'held'",
            &order,
        )?,
        stmt(
            db,
            "UPDATE orders SET status = 'expired', updated_at = ?2 WHERE id = ?1 AND status = 'pending'",
            &order,
        )?,
        stmt(
            db,
            "UPDATE checkout_sessions SET status = 'expired', updated_at = ?2 WHERE order_id = ?1 AND status = 'open'",
            &order,
        )?,
    ])
}

/// A delayed payment failed: the order's held units go back (as in [`release`]), and the
/// order and its session are `failed`. A paid order never fails.
///
/// # Errors
/// Binding failures.
pub fn fail(
    db: &D1Database,
    order_id: &str,
    now: i64,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let order = [text(order_id), int(now)];
    // A release's first two statements give the held units back; its last two expire.
    let mut statements = release(db, order_id, now)?;
    statements.truncate(2);
    statements.extend([
        stmt(
            db,
            "UPDATE orders SET status = 'failed', updated_at = ?2 WHERE id = ?1 \
             AND status IN ('pending', 'awaiting_payment', 'expired')",
            &order,
        )?,
        stmt(
            db,
            "UPDATE checkout_sessions SET status = 'failed', updated_at = ?2 WHERE order_id = ?1 \
             AND status IN ('open', 'awaiting_payment', 'expired')",
            &order,
        )?,
    ]);
    Ok(statements)
}

/// The project's cart orders whose session expired more than [`RELEASE_GRACE_MS`] ago and
/// still hold stock.
///
/// # Errors
/// Storage failures.
pub async fn lapsed_orders(
    db: &D1Database,
    project_id: &str,
    now: i64,
) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        order_id: String,
    }
    let rows: Vec<Row> = all(
        db,
        "SELECT order_id FROM checkout_sessions WHERE project_id = ?1 AND kind = 'payment' AND status = 'open' \
         AND order_id IS NOT NULL AND expires_at <= ?2 LIMIT 50",
        &[text(project_id), int(now - RELEASE_GRACE_MS)],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.order_id).collect())
}

/// Which of `wanted` (product id, units) the project cannot supply now.
///
/// # Errors
/// Storage failures.
pub async fn short(
    db: &D1Database,
    project_id: &str,
    wanted: &[(&str, i64)],
) -> Result<Vec<String>, ApiError> {
    let mut names = Vec::new();
    for (id, quantity) in wanted {
        #[derive(Deserialize)]
        struct Row {
            name: String,
        }
        let row: Option<Row> = first(
            db,
            "SELECT name FROM products WHERE id = ?1 AND project_id = ?2 AND inventory IS NOT NULL AND inventory < ?3",
            &[text(id), text(project_id), int(*quantity)],
        )
        .await?;
        names.extend(row.map(|r| r.name));
    }
    Ok(names)
}

/// An order's header, for the `order.completed` webhook.
#[derive(Clone, Debug, Deserialize)]
pub struct OrderRow {
    /// `ord_…`
    pub id: String,
    /// The buyer, when signed in.
    pub end_user_id: Option<String>,
    /// The buyer's email.
    pub email: Option<String>,
    /// Total in minor units.
    pub amount_total: i64,
    /// Currency.
    pub currency: String,
    /// When it was created (ms).
    pub created_at: i64,
}

/// What an order came to: its status and the products it entitles (active entitlements).
#[derive(Clone, Debug, Deserialize)]
pub struct OrderState {
    /// Where it stands.
    pub status: tollgate::checkout::OrderStatus,
    /// A JSON array of the entitled product ids.
    pub products: String,
}

/// One of the project's orders, as a success page reports it.
///
/// # Errors
/// Storage failures.
pub async fn order_state(
    db: &D1Database,
    project_id: &str,
    order_id: &str,
) -> Result<Option<OrderState>, ApiError> {
    first(
        db,
        "SELECT o.status, (SELECT json_group_array(e.product_id) FROM entitlements e \
           WHERE e.order_id = o.id AND e.status = 'active') AS products \
         FROM orders o WHERE o.id = ?1 AND o.project_id = ?2",
        &[text(order_id), text(project_id)],
    )
    .await
}
