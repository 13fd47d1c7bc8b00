//! What applying one Stripe event reads before it writes, sent to D1 as one batch of SELECTs:
//! whether the event was recorded already, which platform owns its account, and the rows its
//! type decides on. One round trip instead of one per row, ahead of the event's write batch.
//!
//! Every statement is keyed by what the event itself names (its id, account, session,
//! subscription, charge, customer). A row found through another row — the project of our
//! subscription, the order a charge paid — is reached inside the same statement (a subquery
//! or a join), never by a second trip; and what belongs to one row rides in its statement
//! (its project's owner beside it), since each statement of a batch has a cost of its own.
//! The batch is one read transaction, so the decision is made on one state of the database;
//! whatever must still hold when the writes commit is guarded in their SQL, as before.

use super::billing::{ProjectScope, SubscriptionRow, TierRef};
use super::checkout::{OrderLine, OrderRow, SessionRow};
use super::refunds::{ChargedOrder, ChargedSubscription};
use super::{Answers, opt_text, read_batch, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tollgate::stripe::events::{SubscriptionTerms, metadata};
use worker::{D1Database, D1PreparedStatement, D1Result};

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
    /// What `results`, the answers to exactly this lookup's statements, found.
    ///
    /// # Errors
    /// A row that does not deserialize, or fewer answers than statements.
    fn found(&self, results: &[D1Result]) -> Result<Self::Rows, ApiError> {
        self.rows(&mut Answers::new(results))
    }
}

/// Whether the event was recorded (`?1`, NULL when not asked) and who holds its account
/// (`?2`) in its mode (`?3`), NULL when it has none: one statement, always the batch's first.
const HEAD: &str = "SELECT EXISTS (SELECT 1 FROM stripe_events WHERE id = ?1) AS seen, \
     (SELECT platform_id FROM stripe_connections WHERE account_id = ?2 AND mode = ?3 AND status = 'connected') AS owner";

/// The [`Head`] and `statements` (a [`Lookup`]'s) in one batch: what the head found, and the
/// answers to `statements` for [`Lookup::found`]. Not generic, so that its code is compiled
/// once for every kind of event.
///
/// # Errors
/// Storage failures.
pub async fn read(
    db: &D1Database,
    head: &Head<'_>,
    statements: Vec<D1PreparedStatement>,
) -> Result<(Known, Vec<D1Result>), ApiError> {
    #[derive(Deserialize)]
    struct Row {
        seen: i64,
        owner: Option<String>,
    }
    let (account, mode) = head.account.unzip();
    let mut batch = Vec::with_capacity(statements.len() + 1);
    batch.push(stmt(
        db,
        HEAD,
        &[opt_text(head.event_id), opt_text(account), opt_text(mode)],
    )?);
    batch.extend(statements);
    let mut results = read_batch(db, batch).await?;
    let known = Answers::new(&results).first::<Row>()?.map_or(
        Known {
            seen: false,
            owner: None,
        },
        |row| Known {
            seen: row.seen != 0,
            owner: row.owner,
        },
    );
    results.remove(0);
    Ok((known, results))
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

/// The owner of a row's project, in the columns its statement adds beside the row:
/// `p.platform_id AS owner_platform_id, p.mode AS owner_mode` from
/// `LEFT JOIN projects p ON p.id = ….project_id AND p.deleted_at IS NULL`.
#[derive(Deserialize)]
struct OwnerColumns {
    owner_platform_id: Option<String>,
    owner_mode: Option<String>,
}

impl OwnerColumns {
    /// `None` when the project is deleted (or there is none).
    fn scope(self) -> Option<ProjectScope> {
        Some(ProjectScope {
            platform_id: self.owner_platform_id?,
            mode: self.owner_mode?,
        })
    }
}

/// The first row of `result` as `T`, and the owner of its project from the columns beside it.
fn owned<T: DeserializeOwned>(
    result: &D1Result,
) -> Result<(Option<T>, Option<ProjectScope>), ApiError> {
    let row = result.results::<T>()?.into_iter().next();
    let owner = result.results::<OwnerColumns>()?.into_iter().next();
    Ok((row, owner.and_then(OwnerColumns::scope)))
}

/// A tier from two nullable columns of a LEFT JOIN.
fn tier(id: Option<String>, name: Option<String>) -> Option<TierRef> {
    Some(TierRef {
        id: id?,
        name: name?,
    })
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
        Ok(vec![stmt(
            db,
            "SELECT s.id, s.project_id, s.account_id, s.kind, s.end_user_id, s.tier_id, s.order_id, s.status, \
               s.expires_at, s.created_at, p.platform_id AS owner_platform_id, p.mode AS owner_mode \
             FROM checkout_sessions s LEFT JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL \
             WHERE s.id = ?1",
            &[text(self.id)],
        )?])
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<SessionRows, ApiError> {
        let (row, owner) = owned(answers.result()?)?;
        Ok(SessionRows { row, owner })
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

/// Everything a subscription event decides on besides our row, in one row: the project is our
/// row's when we hold the subscription (`?1`), else the one its metadata names (`?2`).
#[derive(Deserialize)]
struct Placement {
    owner_platform_id: Option<String>,
    owner_mode: Option<String>,
    end_user_exists: i64,
    paid_id: Option<String>,
    paid_name: Option<String>,
    price_id: Option<String>,
    price_name: Option<String>,
    named_id: Option<String>,
    named_name: Option<String>,
}

impl Lookup for SubscriptionEvent<'_> {
    type Rows = SubscriptionRows;

    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let terms = self.terms;
        let meta = |key: &str| opt_text(terms.metadata.get(key).map(String::as_str));
        let id = text(&terms.stripe_subscription_id);
        Ok(vec![
            stmt(db, SUBSCRIPTION, std::slice::from_ref(&id))?,
            // One row whatever is found: `e` is one row and every join is on a primary key.
            stmt(
                db,
                "SELECT p.platform_id AS owner_platform_id, p.mode AS owner_mode, \
                   EXISTS (SELECT 1 FROM end_users WHERE project_id = ?2 AND id = ?3) AS end_user_exists, \
                   paid.id AS paid_id, paid.name AS paid_name, price.id AS price_id, price.name AS price_name, \
                   named.id AS named_id, named.name AS named_name \
                 FROM (SELECT COALESCE((SELECT project_id FROM subscriptions WHERE stripe_subscription_id = ?1), ?2) AS id) e \
                 LEFT JOIN projects p ON p.id = e.id AND p.deleted_at IS NULL \
                 LEFT JOIN tiers paid ON paid.project_id = e.id AND paid.id = ?4 \
                 LEFT JOIN tiers price ON price.id = (SELECT t.id FROM tiers t WHERE t.project_id = e.id \
                   AND t.stripe_price_id = ?5 ORDER BY t.archived_at IS NULL DESC LIMIT 1) \
                 LEFT JOIN tiers named ON named.project_id = e.id AND named.id = ?6",
                &[
                    id,
                    meta(metadata::PROJECT),
                    meta(metadata::END_USER),
                    opt_text(terms.paid_tier_held()),
                    text(&terms.stripe_price_id),
                    meta(metadata::TIER),
                ],
            )?,
        ])
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<SubscriptionRows, ApiError> {
        let held = answers.first()?;
        let placed = answers
            .first::<Placement>()?
            .ok_or_else(|| ApiError::internal("a subscription's placement answered no row"))?;
        Ok(SubscriptionRows {
            held,
            owner: OwnerColumns {
                owner_platform_id: placed.owner_platform_id,
                owner_mode: placed.owner_mode,
            }
            .scope(),
            end_user_exists: placed.end_user_exists != 0,
            by_terms: tier(placed.paid_id, placed.paid_name)
                .or_else(|| tier(placed.price_id, placed.price_name)),
            by_metadata: tier(placed.named_id, placed.named_name),
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
        Ok(vec![stmt(
            db,
            "SELECT s.project_id, s.end_user_id, s.tier_id, s.plan, s.status, s.stripe_event_at, \
               p.platform_id AS owner_platform_id, p.mode AS owner_mode \
             FROM subscriptions s LEFT JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL \
             WHERE s.stripe_subscription_id = ?1",
            &[text(self.subscription)],
        )?])
    }

    fn rows(&self, answers: &mut Answers<'_>) -> Result<InvoicedRows, ApiError> {
        let (held, owner) = owned(answers.result()?)?;
        Ok(InvoicedRows { held, owner })
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

impl Lookup for Charged<'_> {
    type Rows = ChargedRows;

    fn statements(&self, db: &D1Database) -> Result<Vec<D1PreparedStatement>, ApiError> {
        let mut statements = vec![stmt(
            db,
            // One row per entitlement of the order (one without a product when it has none),
            // each with the order and its project's owner: one statement, so all of it
            // describes the same order.
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
        #[derive(Deserialize)]
        struct Product {
            product_id: Option<String>,
        }
        let result = answers.result()?;
        let (order, owner) = owned::<ChargedOrder>(result)?;
        let products = result.results::<Product>()?;
        let order = order.map(|order| PaidOrder {
            order,
            owner,
            products: products.into_iter().filter_map(|p| p.product_id).collect(),
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

/// The newest subscription billed to a Stripe customer (customers are per connected account,
/// so the id alone names the account's customer), with its project's owner.
#[derive(Clone, Copy, Debug)]
pub struct Customer<'a> {
    /// `cus_…`
    pub id: &'a str,
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
        let (subscription, owner) = owned::<ChargedSubscription>(answers.result()?)?;
        Ok(subscription.map(|subscription| BilledSubscription {
            subscription,
            owner,
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
