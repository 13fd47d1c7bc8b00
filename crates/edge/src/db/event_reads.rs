//! What applying one Stripe event reads before it writes, sent to D1 as one batch of SELECTs:
//! whether the event was recorded already, which platform owns its account, and the rows its
//! type decides on. One round trip instead of one per row, ahead of the event's write batch.
//!
//! Every statement is keyed by what the event itself names (its id, account, session,
//! subscription, charge, customer). A row found through another row — the project of our
//! subscription, the order a charge paid — is reached inside the same statement (a subquery
//! or a join), never by a second trip. The batch is one read transaction, so the decision is
//! made on one state of the database; whatever must still hold when the writes commit is
//! guarded in their SQL, as before.

use super::billing::{ProjectScope, SubscriptionRow, TierRef};
use super::checkout::{OrderLine, OrderRow, SessionRow};
use super::refunds::{ChargedOrder, ChargedSubscription};
use super::{Answers, opt_text, read_batch, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::stripe::events::{SubscriptionTerms, metadata};
use worker::{D1Database, D1PreparedStatement};

/// What every event is asked, before its type's own rows.
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    /// The event's id, when a recorded event is a duplicate (a delivery, not a
    /// re-application).
    pub event_id: Option<&'a str>,
    /// The connected account and mode (`test` or `live`) the event happened on.
    pub account: Option<(&'a str, &'a str)>,
}

/// The answers to the [`Head`].
#[derive(Clone, Debug)]
pub struct Known {
    /// The event was recorded before.
    pub seen: bool,
    /// The platform holding the account in the event's mode (connected), if any.
    pub owner: Option<String>,
}

/// The rows one kind of event decides on: its statements, and how their answers read back.
pub trait Lookup {
    /// What the statements found.
    type Rows;
    /// The statements, in the order [`Lookup::rows`] takes their answers.
    ///
    /// # Errors
    /// Binding failures.
    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError>;
    /// The answers, read back in the order the statements were made.
    ///
    /// # Errors
    /// A row that does not deserialize.
    fn rows(&self, answers: &mut Answers<'_>) -> Result<Self::Rows, ApiError>;
}

#[derive(Deserialize)]
struct Id {
    #[expect(dead_code, reason = "only the row's existence matters")]
    id: String,
}

/// The [`Head`] and `lookup` in one batch.
///
/// # Errors
/// Storage failures.
pub async fn read<L: Lookup>(
    db: &D1Database,
    head: &Head<'_>,
    lookup: &L,
) -> Result<(Known, L::Rows), ApiError> {
    let mut statements = Vec::new();
    if let Some(id) = head.event_id {
        statements.push(stmt(
            db,
            "SELECT id FROM stripe_events WHERE id = ?1",
            &[text(id)],
        )?);
    }
    if let Some((account, mode)) = head.account {
        statements.push(stmt(
            db,
            "SELECT platform_id FROM stripe_connections WHERE account_id = ?1 AND mode = ?2 AND status = 'connected'",
            &[text(account), text(mode)],
        )?);
    }
    statements.extend(lookup.statements(db)?);
    let results = read_batch(db, statements).await?;
    let mut answers = Answers::new(&results);
    #[derive(Deserialize)]
    struct Owner {
        platform_id: String,
    }
    let seen = match head.event_id {
        Some(_) => answers.first::<Id>()?.is_some(),
        None => false,
    };
    let owner = match head.account {
        Some(_) => answers.first::<Owner>()?.map(|o| o.platform_id),
        None => None,
    };
    let rows = lookup.rows(&mut answers)?;
    Ok((Known { seen, owner }, rows))
}

/// `lookup` alone, in one batch: rows needed after a call to Stripe named what to look for.
///
/// # Errors
/// Storage failures.
pub async fn rows<L: Lookup>(db: &D1Database, lookup: &L) -> Result<L::Rows, ApiError> {
    let results = read_batch(db, lookup.statements(db)?).await?;
    lookup.rows(&mut Answers::new(&results))
}

/// No rows beyond the [`Head`]: event types that read nothing more, or whose object could not
/// be read (which only matters once the account is known to be ours).
#[derive(Clone, Copy, Debug)]
pub struct Nothing;

impl Lookup for Nothing {
    type Rows = ();

    fn statements(&self, _db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        Ok(Vec::new())
    }

    fn rows(&self, _answers: &mut Answers<'_>) -> Result<(), ApiError> {
        Ok(())
    }
}

/// The owner and mode of the live (not deleted) project `project_sql` selects, binding `?1`.
fn owner_of(
    db: &D1Database,
    project_sql: &str,
    params: &[wasm_bindgen::JsValue],
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        &format!(
            "SELECT platform_id, mode FROM projects WHERE id = ({project_sql}) AND deleted_at IS NULL"
        ),
        params,
    )
}

/// Our row of a Stripe subscription.
const SUBSCRIPTION: &str = "SELECT project_id, end_user_id, tier_id, plan, status, stripe_event_at FROM subscriptions \
     WHERE stripe_subscription_id = ?1";

/// A checkout session Tollgate opened, by Stripe's id (`checkout.session.expired`,
/// `checkout.session.async_payment_failed`).
#[derive(Clone, Copy, Debug)]
pub struct Session<'a> {
    /// `cs_…`
    pub id: &'a str,
}

/// What [`Session`] found.
#[derive(Clone, Debug)]
pub struct SessionRows {
    /// Our row of the session.
    pub row: Option<SessionRow>,
    /// Who owns the session's project, when it is live.
    pub owner: Option<ProjectScope>,
}

impl Lookup for Session<'_> {
    type Rows = SessionRows;

    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        Ok(vec![
            stmt(
                db,
                "SELECT id, project_id, account_id, kind, end_user_id, tier_id, order_id, status, expires_at, created_at \
                 FROM checkout_sessions WHERE id = ?1",
                &[text(self.id)],
            )?,
            owner_of(
                db,
                "SELECT project_id FROM checkout_sessions WHERE id = ?1",
                &[text(self.id)],
            )?,
        ])
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<SessionRows, ApiError> {
        Ok(SessionRows {
            row: answers.first()?,
            owner: answers.first()?,
        })
    }
}

/// A completed session (`checkout.session.completed`, `…async_payment_succeeded`): the
/// [`Session`]; for a cart, its lines, the products it can no longer have and its order; for
/// a subscription, the session's tier and our row of the subscription Stripe made.
#[derive(Clone, Copy, Debug)]
pub struct Completion<'a> {
    /// `cs_…`
    pub id: &'a str,
    /// The `sub_…` the session made, when it made one.
    pub subscription: Option<&'a str>,
}

/// What [`Completion`] found. All but `held` key on the session row: no row, none of them.
#[derive(Clone, Debug)]
pub struct CompletionRows {
    /// The session and its owner.
    pub session: SessionRows,
    /// The lines of the session's order (none for another project's products).
    pub lines: Vec<OrderLine>,
    /// The names of the products whose lapsed hold (`released` lines) cannot be taken again:
    /// stock now below the line's units.
    pub short: Vec<String>,
    /// The session's order, in the session's project.
    pub order: Option<OrderRow>,
    /// The session's tier, in the session's project.
    pub tier: Option<TierRef>,
    /// Our row of the subscription the session made.
    pub held: Option<SubscriptionRow>,
}

impl Lookup for Completion<'_> {
    type Rows = CompletionRows;

    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let id = [text(self.id)];
        let mut statements = Session { id: self.id }.statements(db)?;
        statements.extend([
            stmt(
                db,
                "SELECT r.product_id, p.name, r.quantity, r.unit_amount, r.status FROM checkout_sessions s \
                 JOIN inventory_reservations r ON r.order_id = s.order_id \
                 JOIN products p ON p.id = r.product_id AND p.project_id = s.project_id \
                 WHERE s.id = ?1 ORDER BY p.name",
                &id,
            )?,
            stmt(
                db,
                "SELECT p.name FROM checkout_sessions s \
                 JOIN inventory_reservations r ON r.order_id = s.order_id AND r.status = 'released' \
                 JOIN products p ON p.id = r.product_id AND p.project_id = s.project_id \
                 WHERE s.id = ?1 AND p.inventory IS NOT NULL AND p.inventory < r.quantity ORDER BY p.name",
                &id,
            )?,
            stmt(
                db,
                "SELECT o.id, o.end_user_id, o.email, o.amount_total, o.currency, o.created_at FROM checkout_sessions s \
                 JOIN orders o ON o.project_id = s.project_id AND o.id = s.order_id WHERE s.id = ?1",
                &id,
            )?,
            stmt(
                db,
                "SELECT t.id, t.name FROM checkout_sessions s \
                 JOIN tiers t ON t.project_id = s.project_id AND t.id = s.tier_id WHERE s.id = ?1",
                &id,
            )?,
        ]);
        if let Some(subscription) = self.subscription {
            statements.push(stmt(db, SUBSCRIPTION, &[text(subscription)])?);
        }
        Ok(statements)
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<CompletionRows, ApiError> {
        Ok(CompletionRows {
            session: Session { id: self.id }.rows(answers)?,
            lines: answers.all()?,
            short: answers.all::<Name>()?.into_iter().map(|n| n.name).collect(),
            order: answers.first()?,
            tier: answers.first()?,
            held: match self.subscription {
                Some(_) => answers.first()?,
                None => None,
            },
        })
    }
}

#[derive(Deserialize)]
struct Name {
    name: String,
}

/// The project a subscription event is about: our row's when we hold the subscription (`?1`),
/// else the one its metadata names (`?2`).
const EVENT_PROJECT: &str =
    "COALESCE((SELECT project_id FROM subscriptions WHERE stripe_subscription_id = ?1), ?2)";

/// `customer.subscription.*`: our row, the owner of its project (our row's, or for a
/// subscription we do not hold yet the one its metadata names), whether the metadata's end
/// user is that project's, and the tiers that could name its plan.
#[derive(Clone, Copy, Debug)]
pub struct SubscriptionEvent<'a> {
    /// The subscription as the event states it.
    pub terms: &'a SubscriptionTerms,
}

/// What [`SubscriptionEvent`] found.
#[derive(Clone, Debug)]
pub struct SubscriptionRows {
    /// Our row of the subscription.
    pub held: Option<SubscriptionRow>,
    /// Who owns the event's project, when it is live.
    pub owner: Option<ProjectScope>,
    /// Whether the end user the metadata names is one of the project the metadata names.
    pub end_user_exists: bool,
    /// The tier the terms grant: the tier already paid for while a scheduled downgrade waits
    /// for the renewal ([`SubscriptionTerms::paid_tier_held`]), else the project's tier that
    /// sells the price Stripe bills (current or past prices of that tier alike).
    pub by_terms: Option<TierRef>,
    /// The project's tier the metadata names.
    pub by_metadata: Option<TierRef>,
}

impl Lookup for SubscriptionEvent<'_> {
    type Rows = SubscriptionRows;

    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let terms = self.terms;
        let meta = |key: &str| opt_text(terms.metadata.get(key).map(String::as_str));
        let id = text(&terms.stripe_subscription_id);
        let tier = |tier| -> Result<D1PreparedStatement, ApiError> {
            stmt(
                db,
                &format!(
                    "SELECT id, name FROM tiers WHERE project_id = {EVENT_PROJECT} AND id = ?3"
                ),
                &[id.clone(), meta(metadata::PROJECT), tier],
            )
        };
        Ok(vec![
            stmt(db, SUBSCRIPTION, std::slice::from_ref(&id))?,
            owner_of(db, EVENT_PROJECT, &[id.clone(), meta(metadata::PROJECT)])?,
            stmt(
                db,
                "SELECT id FROM end_users WHERE project_id = ?1 AND id = ?2",
                &[meta(metadata::PROJECT), meta(metadata::END_USER)],
            )?,
            tier(opt_text(terms.paid_tier_held()))?,
            stmt(
                db,
                &format!(
                    "SELECT id, name FROM tiers WHERE project_id = {EVENT_PROJECT} AND stripe_price_id = ?3 \
                     ORDER BY archived_at IS NULL DESC LIMIT 1"
                ),
                &[
                    id.clone(),
                    meta(metadata::PROJECT),
                    text(&terms.stripe_price_id),
                ],
            )?,
            tier(meta(metadata::TIER))?,
        ])
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<SubscriptionRows, ApiError> {
        let held = answers.first()?;
        let owner = answers.first()?;
        let end_user_exists = answers.first::<Id>()?.is_some();
        let paid = answers.first::<TierRef>()?;
        let by_price = answers.first::<TierRef>()?;
        Ok(SubscriptionRows {
            held,
            owner,
            end_user_exists,
            by_terms: paid.or(by_price),
            by_metadata: answers.first()?,
        })
    }
}

/// `invoice.*`: our row of the invoiced subscription and the owner of its project.
#[derive(Clone, Copy, Debug)]
pub struct Invoiced<'a> {
    /// `sub_…`
    pub subscription: &'a str,
}

/// What [`Invoiced`] found.
#[derive(Clone, Debug)]
pub struct InvoicedRows {
    /// Our row of the subscription.
    pub held: Option<SubscriptionRow>,
    /// Who owns its project, when it is live.
    pub owner: Option<ProjectScope>,
}

impl Lookup for Invoiced<'_> {
    type Rows = InvoicedRows;

    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let id = [text(self.subscription)];
        Ok(vec![
            stmt(db, SUBSCRIPTION, &id)?,
            owner_of(
                db,
                "SELECT project_id FROM subscriptions WHERE stripe_subscription_id = ?1",
                &id,
            )?,
        ])
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<InvoicedRows, ApiError> {
        Ok(InvoicedRows {
            held: answers.first()?,
            owner: answers.first()?,
        })
    }
}

/// An order a charge paid, with the owner of its project and its entitled products.
#[derive(Clone, Debug)]
pub struct PaidOrder {
    /// The order.
    pub order: ChargedOrder,
    /// Who owns its project, when it is live.
    pub owner: Option<ProjectScope>,
    /// The product ids of its entitlements (any status), in order.
    pub products: Vec<String>,
}

/// A subscription a charge billed, with the owner of its project.
#[derive(Clone, Debug)]
pub struct BilledSubscription {
    /// The subscription.
    pub subscription: ChargedSubscription,
    /// Who owns its project, when it is live.
    pub owner: Option<ProjectScope>,
}

/// `charge.refunded` and `charge.dispute.*`: the order the charge paid through a checkout
/// session on the account (by its payment intent, or once recorded by the charge), and, when
/// the charge names its customer, the subscription billed to that customer ([`Customer`]).
#[derive(Clone, Copy, Debug)]
pub struct Charged<'a> {
    /// The connected account: a charge elsewhere never reaches another account's orders.
    pub account: &'a str,
    /// `pi_…`
    pub payment_intent: Option<&'a str>,
    /// `ch_…`
    pub charge: &'a str,
    /// `cus_…`, when the event names it (a dispute does not).
    pub customer: Option<&'a str>,
}

/// What [`Charged`] found.
#[derive(Clone, Debug)]
pub struct ChargedRows {
    /// The order the charge paid.
    pub order: Option<PaidOrder>,
    /// The subscription billed to the charge's customer, when the charge named one.
    pub subscription: Option<BilledSubscription>,
}

/// One row per entitlement of the order (one with no product when it has none), each with the
/// order and its project's owner: one statement, so all of it describes the same order.
#[derive(Deserialize)]
struct ChargedOrderLine {
    id: String,
    project_id: String,
    end_user_id: Option<String>,
    email: Option<String>,
    status: String,
    amount_total: i64,
    amount_refunded: i64,
    currency: String,
    dispute_status: Option<String>,
    dispute_event_at: Option<i64>,
    owner_platform_id: Option<String>,
    owner_mode: Option<String>,
    product_id: Option<String>,
}

impl Lookup for Charged<'_> {
    type Rows = ChargedRows;

    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let mut statements = vec![stmt(
            db,
            "SELECT o.id, o.project_id, o.end_user_id, o.email, o.status, o.amount_total, o.amount_refunded, \
               o.currency, o.dispute_status, o.dispute_event_at, \
               p.platform_id AS owner_platform_id, p.mode AS owner_mode, e.product_id \
             FROM (SELECT * FROM orders o \
               WHERE ((?1 IS NOT NULL AND o.stripe_payment_intent_id = ?1) OR o.stripe_charge_id = ?2) \
                 AND EXISTS (SELECT 1 FROM checkout_sessions s WHERE s.order_id = o.id AND s.account_id = ?3) \
               LIMIT 1) o \
             LEFT JOIN projects p ON p.id = o.project_id AND p.deleted_at IS NULL \
             LEFT JOIN entitlements e ON e.order_id = o.id \
             ORDER BY e.product_id",
            &[
                opt_text(self.payment_intent),
                text(self.charge),
                text(self.account),
            ],
        )?];
        if let Some(id) = self.customer {
            statements.extend(Customer { id }.statements(db)?);
        }
        Ok(statements)
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<ChargedRows, ApiError> {
        let lines = answers.all::<ChargedOrderLine>()?;
        let products = lines.iter().filter_map(|l| l.product_id.clone()).collect();
        let order = lines.into_iter().next().map(|l| PaidOrder {
            owner: owner(l.owner_platform_id, l.owner_mode),
            order: ChargedOrder {
                id: l.id,
                project_id: l.project_id,
                end_user_id: l.end_user_id,
                email: l.email,
                status: l.status,
                amount_total: l.amount_total,
                amount_refunded: l.amount_refunded,
                currency: l.currency,
                dispute_status: l.dispute_status,
                dispute_event_at: l.dispute_event_at,
            },
            products,
        });
        let subscription = match self.customer {
            Some(id) => Customer { id }.rows(answers)?,
            None => None,
        };
        Ok(ChargedRows {
            order,
            subscription,
        })
    }
}

/// A project's owner from a LEFT JOIN of `projects`: none when the project is deleted.
fn owner(platform_id: Option<String>, mode: Option<String>) -> Option<ProjectScope> {
    Some(ProjectScope {
        platform_id: platform_id?,
        mode: mode?,
    })
}

/// The newest subscription billed to a Stripe customer (customers are per connected account,
/// so the id alone names the account's customer), with its project's owner.
#[derive(Clone, Copy, Debug)]
pub struct Customer<'a> {
    /// `cus_…`
    pub id: &'a str,
}

#[derive(Deserialize)]
struct BilledRow {
    stripe_subscription_id: String,
    project_id: String,
    status: String,
    owner_platform_id: Option<String>,
    owner_mode: Option<String>,
}

impl Lookup for Customer<'_> {
    type Rows = Option<BilledSubscription>;

    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        Ok(vec![stmt(
            db,
            "SELECT s.stripe_subscription_id, s.project_id, s.status, \
               p.platform_id AS owner_platform_id, p.mode AS owner_mode \
             FROM (SELECT stripe_subscription_id, project_id, status FROM subscriptions \
               WHERE stripe_customer_id = ?1 ORDER BY created_at DESC LIMIT 1) s \
             LEFT JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL",
            &[text(self.id)],
        )?])
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<Option<BilledSubscription>, ApiError> {
        Ok(answers.first::<BilledRow>()?.map(|r| BilledSubscription {
            owner: owner(r.owner_platform_id, r.owner_mode),
            subscription: ChargedSubscription {
                stripe_subscription_id: r.stripe_subscription_id,
                project_id: r.project_id,
                status: r.status,
            },
        }))
    }
}

/// An event on Tollgate's own account about a developer's own subscription: when the
/// platform its metadata names exists, the `billing_event_at` of the newest billing event
/// applied to it.
#[derive(Clone, Copy, Debug)]
pub struct PlatformBilled<'a> {
    /// `plt_…`, when the event names one.
    pub platform_id: Option<&'a str>,
}

impl Lookup for PlatformBilled<'_> {
    /// `None`: no such platform (or none named); `Some(None)`: never billed.
    type Rows = Option<Option<i64>>;

    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        match self.platform_id {
            Some(id) => Ok(vec![stmt(
                db,
                "SELECT billing_event_at FROM platforms WHERE id = ?1",
                &[text(id)],
            )?]),
            None => Ok(Vec::new()),
        }
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<Option<Option<i64>>, ApiError> {
        #[derive(Deserialize)]
        struct Row {
            billing_event_at: Option<i64>,
        }
        match self.platform_id {
            Some(_) => Ok(answers.first::<Row>()?.map(|r| r.billing_event_at)),
            None => Ok(None),
        }
    }
}
