//! Applying one verified Stripe event exactly once: read what it decides on, decide its
//! effects, and commit the event's row and every effect as one D1 batch, the row first.
//!
//! The reads are one batch too ([`event_reads`]): whether the event was recorded, who owns
//! its account and the rows its type needs are all keyed by what the event itself names, so
//! an event costs D1 one read and one write round trip — plus a call to Stripe where the
//! event names an object without stating it.
//!
//! The row is a plain INSERT on the event id, so a second delivery — even one racing the
//! first — fails the whole batch and changes nothing. Every lookup here only decides which
//! statements to send; anything that must hold at commit time is also guarded in the SQL.

use crate::emitted::{Origin, SubscriptionData};
use serde_json::json;
use tollgate::Mode;
use tollgate::checkout::LineStatus;
use tollgate::refunds::{self, ChargeChange};
use tollgate::settle::{self, Decision, Effect, Notice, StoredSubscription};
use tollgate::stripe::calls::retrieve_charge;
use tollgate::stripe::calls::retrieve_subscription;
use tollgate::stripe::events::{
    Event, Outcome, Payload, Receipt, SubscriptionChange, SubscriptionTerms, is_stale, metadata,
    platform_billing_status,
};
use tollgate::stripe::objects::{Charge, CheckoutSession, Dispute, Invoice, Subscription};
use tollgate::subscription::Status;
use tollgate_edge::audit::{self, Actor, Change};
use tollgate_edge::db::billing::{
    self, EventRecord, Grant, PlatformBilling, ProjectScope, Revenue, TierRef,
};
use tollgate_edge::db::checkout::{self, OrderLine, OrderRow, SessionRow};
use tollgate_edge::db::event_reads::{
    self, BilledSubscription, Charged, ChargedRows, Completion, CompletionRows, Customer, Head,
    Invoiced, InvoicedRows, Known, Lookup, Nothing, PaidOrder, PlatformBilled, Session,
    SessionRows, SubscriptionEvent, SubscriptionRows,
};
use tollgate_edge::db::refunds as chargebacks;
use tollgate_edge::db::{self, connections};
use tollgate_edge::stripe::StripeClient;
use tollgate_edge::{ApiError, Ctx, Environment, log};
use tollgate_edge::{meter, outbound};
use worker::{D1Database, D1PreparedStatement};

/// What an event will do: its outcome, its owner as far as known, its effects, and the
/// developer webhooks that report them (fan-outs whose results name the deliveries to queue).
struct Plan {
    outcome: Outcome,
    platform_id: Option<String>,
    project_id: Option<String>,
    effects: Vec<D1PreparedStatement>,
    notices: Vec<D1PreparedStatement>,
    /// A checkout session made final, and its status, for clients waiting on its events.
    push: Option<(String, &'static str)>,
    /// The end user whose allowance the effects change (their metering object reads it
    /// again before its next count).
    allowance_of: Option<String>,
}

impl Plan {
    fn without_effects(
        outcome: Outcome,
        platform_id: Option<&str>,
        project_id: Option<&str>,
    ) -> Self {
        Self {
            outcome,
            platform_id: platform_id.map(str::to_owned),
            project_id: project_id.map(str::to_owned),
            effects: Vec::new(),
            notices: Vec::new(),
            push: None,
            allowance_of: None,
        }
    }

    fn applied(
        platform_id: &str,
        project_id: Option<&str>,
        effects: Vec<D1PreparedStatement>,
    ) -> Self {
        Self {
            outcome: Outcome::Applied,
            platform_id: Some(platform_id.to_owned()),
            project_id: project_id.map(str::to_owned),
            effects,
            notices: Vec::new(),
            push: None,
            allowance_of: None,
        }
    }

    fn notifying(mut self, notices: Vec<D1PreparedStatement>) -> Self {
        self.notices = notices;
        self
    }

    fn pushing(mut self, session_id: &str, status: &'static str) -> Self {
        self.push = Some((session_id.to_owned(), status));
        self
    }

    fn changing_allowance_of(mut self, end_user_id: &str) -> Self {
        self.allowance_of = Some(end_user_id.to_owned());
        self
    }
}

/// Where a Connect event happened and who owns it.
struct Scope<'a> {
    ctx: &'a Ctx,
    db: &'a D1Database,
    event: &'a Event,
    account: &'a str,
    mode: Mode,
    platform_id: String,
}

impl Scope<'_> {
    /// Ignores the event as not ours to apply, and says why in the log.
    fn unrelated(&self, project_id: Option<&str>, why: &str) -> Plan {
        log::warn(
            &self.ctx.request_id,
            "stripe_event_unrelated",
            &format!(
                "{} {} on {}: {why}",
                self.event.id, self.event.kind, self.account
            ),
        );
        Plan::without_effects(Outcome::Unrelated, Some(&self.platform_id), project_id)
    }

    /// Where the developer events this Stripe event causes in `project_id` happen.
    fn origin<'b>(&'b self, project_id: &'b str) -> Origin<'b> {
        Origin {
            db: self.db,
            stripe_event: &self.event.id,
            project_id,
            mode: self.mode,
            now: self.ctx.now_ms,
        }
    }

    /// Whether a project whose owner was read as `owner` is a live project of this platform
    /// in this mode.
    fn owns(&self, owner: Option<&ProjectScope>) -> bool {
        owner.is_some_and(|p| p.platform_id == self.platform_id && p.mode == self.mode.as_str())
    }

    /// Our row for the session, when it was made on this account for a project we own.
    fn our_session(&self, found: SessionRows) -> Option<SessionRow> {
        let row = found.row?;
        (row.account_id == self.account && self.owns(found.owner.as_ref())).then_some(row)
    }
}

/// A Connect event before its reads: what every one of them asks D1 first.
struct Delivery<'a> {
    ctx: &'a Ctx,
    db: &'a D1Database,
    event: &'a Event,
    account: &'a str,
    mode: Mode,
    head: Head<'a>,
}

/// An event answered from the head alone, before any decision.
#[derive(Clone, Copy, Debug)]
enum Early {
    /// Recorded before: a duplicate.
    Seen,
    /// On an account no platform of ours holds in the event's mode.
    Stranger,
}

impl Early {
    /// What planning answers: nothing to plan for a duplicate, a record without effect for a
    /// stranger's event.
    fn answer(self) -> Option<Plan> {
        match self {
            Self::Seen => None,
            Self::Stranger => Some(Plan::without_effects(Outcome::Unrelated, None, None)),
        }
    }
}

impl<'a> Delivery<'a> {
    /// Reads the head and `lookup` in one batch. An event recorded before, or one on an
    /// account no platform of ours holds in its mode, is answered early; otherwise the event
    /// is ours, with the rows `lookup` found.
    async fn open<L: Lookup>(
        &self,
        lookup: &L,
    ) -> Result<Result<(Scope<'a>, L::Rows), Early>, ApiError> {
        let statements = lookup.statements(self.db)?;
        let (known, results) = event_reads::read(self.db, &self.head, statements).await?;
        let scope = match self.scope(known) {
            Ok(scope) => scope,
            Err(early) => return Ok(Err(early)),
        };
        Ok(Ok((scope, lookup.found(&results)?)))
    }

    /// What the head's answers make of the event; kept out of the generic
    /// [`Delivery::open`] so it is compiled once, not once per lookup.
    fn scope(&self, known: Known) -> Result<Scope<'a>, Early> {
        if known.seen {
            return Err(Early::Seen);
        }
        let Some(platform_id) = known.owner else {
            log::warn(
                &self.ctx.request_id,
                "stripe_event_unrelated",
                &format!(
                    "{} {}: {} is not connected in {}",
                    self.event.id, self.event.kind, self.account, self.mode
                ),
            );
            return Err(Early::Stranger);
        };
        Ok(Scope {
            ctx: self.ctx,
            db: self.db,
            event: self.event,
            account: self.account,
            mode: self.mode,
            platform_id,
        })
    }

    /// `error`, once the event is known to be new and ours: only events we own may fail,
    /// so strangers' oddities never cause retries.
    async fn fail(&self, error: ApiError) -> Result<Option<Plan>, ApiError> {
        match self.open(&Nothing).await? {
            Ok(_) => Err(error),
            Err(early) => Ok(early.answer()),
        }
    }
}

/// Whether an event recorded before may be applied again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Again {
    /// A delivery: a recorded event is a duplicate.
    No,
    /// A developer's re-application: an event recorded without effect is evaluated anew; an
    /// applied one stays a duplicate.
    IfUnapplied,
}

/// Applies `event` once; a second application of the same id is a no-op answered as a
/// duplicate.
///
/// # Errors
/// Storage or Stripe failures (Stripe then retries), or an object we cannot read.
pub(crate) async fn apply(ctx: &Ctx, event: &Event, again: Again) -> Result<Receipt, ApiError> {
    let db = db::database(&ctx.env)?;
    // Recorded before: an early answer for the common retry, from the event's one read. The
    // batch below is what guarantees it.
    let Some(plan) = plan(ctx, &db, event, again).await? else {
        return Ok(Receipt::duplicate());
    };
    let record = EventRecord {
        id: &event.id,
        kind: &event.kind,
        account_id: event.account.as_deref(),
        platform_id: plan.platform_id.as_deref(),
        project_id: plan.project_id.as_deref(),
        livemode: event.livemode,
        created: event.created_ms(),
        outcome: plan.outcome.as_str(),
        received_at: ctx.now_ms,
    };
    let mut statements = Vec::new();
    if again == Again::IfUnapplied {
        statements.push(billing::forget_unapplied(&db, &event.id)?);
    }
    statements.push(billing::record_event(&db, &record)?);
    statements.extend(plan.effects);
    let notices = plan.notices.len();
    statements.extend(plan.notices);
    match db.batch(statements).await {
        Ok(results) => {
            let mut queued = Vec::new();
            for result in &results[results.len().saturating_sub(notices)..] {
                queued.extend(outbound::written(result)?);
            }
            outbound::enqueue(&ctx.env, &ctx.request_id, &queued).await;
            // The developer's own plan gates live keys: cached key lookups must not wait
            // out the KV bound to see it.
            if event.account.is_none()
                && plan.outcome == Outcome::Applied
                && let Some(platform_id) = plan.platform_id.as_deref()
            {
                tollgate_edge::keyauth::forget_platform(&ctx.env, &db, platform_id).await?;
            }
            if let (Some(project_id), Some(end_user_id)) = (&plan.project_id, &plan.allowance_of) {
                meter::forget_one(&ctx.env, &ctx.request_id, project_id, end_user_id).await;
            }
            if let Some((session_id, status)) = &plan.push {
                push(ctx, session_id, status).await;
            }
            Ok(Receipt::first(plan.outcome))
        }
        Err(error) if billing::is_duplicate_event(&error) => Ok(Receipt::duplicate()),
        Err(error) => Err(error.into()),
    }
}

/// Tells the session's `CheckoutPush` object (meter worker) its final status, so clients on
/// `GET /api/checkout/{sessionId}/events` hear it now. Best effort: the event is applied
/// already, and a client that missed this reads the status from D1.
async fn push(ctx: &Ctx, session_id: &str, status: &str) {
    let sent = async {
        let stub = ctx
            .env
            .durable_object("CHECKOUT_PUSH")?
            .id_from_name(session_id)?
            .get_stub()?;
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post);
        let url = format!("https://push/{session_id}?status={status}");
        stub.fetch_with_request(worker::Request::new_with_init(&url, &init)?)
            .await
    };
    if let Err(error) = sent.await {
        log::warn(
            &ctx.request_id,
            "checkout_push",
            &format!("{session_id}: {error}"),
        );
    }
}

/// Plans `event` on one read of all it decides on; `None` when it was recorded before.
async fn plan(
    ctx: &Ctx,
    db: &D1Database,
    event: &Event,
    again: Again,
) -> Result<Option<Plan>, ApiError> {
    let event_id = (again == Again::No).then_some(event.id.as_str());
    let Some(account) = event.account.as_deref() else {
        return platform_event(ctx, db, event, event_id).await;
    };
    let mode = event.mode();
    let at = Delivery {
        ctx,
        db,
        event,
        account,
        mode,
        head: Head {
            event_id,
            account: Some((account, mode.as_str())),
        },
    };
    // The head's answers come first in each arm: a duplicate or a stranger's event is
    // answered before anything else happens, whatever its type.
    macro_rules! open {
        ($lookup:expr) => {
            match at.open(&$lookup).await? {
                Ok(found) => found,
                Err(early) => return Ok(early.answer()),
            }
        };
    }
    let payload = match payload(event) {
        Ok(payload) => payload,
        Err(error) => return at.fail(error).await,
    };
    let plan = match payload {
        Payload::Unhandled => {
            let (scope, ()) = open!(Nothing);
            Plan::without_effects(Outcome::Unhandled, Some(&scope.platform_id), None)
        }
        Payload::Deauthorized => {
            let (scope, ()) = open!(Nothing);
            deauthorized(&scope)?
        }
        // The delayed payment's word: the session now paid is applied as a paid completion.
        Payload::CheckoutCompleted(session) | Payload::CheckoutPaid(session) => {
            let (scope, rows) = open!(Completion {
                id: &session.id,
                subscription: session.subscription.as_deref(),
            });
            checkout_completed(&scope, &session, rows).await?
        }
        Payload::CheckoutExpired(session) => {
            let (scope, rows) = open!(Session { id: &session.id });
            checkout_expired(&scope, rows)?
        }
        Payload::CheckoutPaymentFailed(session) => {
            let (scope, rows) = open!(Session { id: &session.id });
            checkout_failed(&scope, rows)?
        }
        Payload::Subscription(change, subscription) => {
            let terms = match read_terms(&subscription, change == SubscriptionChange::Deleted) {
                Ok(terms) => terms,
                Err(error) => return at.fail(error).await,
            };
            let (scope, rows) = open!(SubscriptionEvent { terms: &terms });
            subscription_changed(&scope, &terms, &rows)?
        }
        Payload::InvoicePaid(invoice) => match invoice.subscription_id() {
            Some(subscription) => {
                let (scope, rows) = open!(Invoiced { subscription });
                invoice_paid(&scope, &invoice, subscription, &rows)?
            }
            None => not_a_subscription(&open!(Nothing).0),
        },
        Payload::InvoicePaymentFailed(invoice) => match invoice.subscription_id() {
            Some(subscription) => {
                let (scope, rows) = open!(Invoiced { subscription });
                invoice_failed(&scope, &invoice, subscription, &rows)?
            }
            None => not_a_subscription(&open!(Nothing).0),
        },
        Payload::ChargeRefunded(charge) => {
            let (scope, rows) = open!(Charged {
                account,
                payment_intent: charge.payment_intent.as_deref(),
                charge: &charge.id,
                customer: charge.customer.as_deref(),
            });
            charge_refunded(&scope, &charge, rows)?
        }
        Payload::DisputeCreated(dispute) => {
            let (scope, rows) = open!(disputed_charge(account, &dispute));
            disputed(&scope, &dispute, false, rows).await?
        }
        Payload::DisputeClosed(dispute) => {
            let (scope, rows) = open!(disputed_charge(account, &dispute));
            disputed(&scope, &dispute, true, rows).await?
        }
    };
    Ok(Some(plan))
}

/// The event's typed object. One that does not match its type is our bug or Stripe's change:
/// answer 500 so Stripe keeps the event and retries it once fixed, rather than acknowledging
/// a loss. The answer waits until the event is known to be ours ([`Delivery::fail`]), so
/// strangers' oddities never cause retries.
fn payload(event: &Event) -> Result<Payload, ApiError> {
    event
        .payload()
        .map_err(|e| ApiError::internal(format!("{}: {e}", event.id)))
}

fn deauthorized(scope: &Scope<'_>) -> Result<Plan, ApiError> {
    let effects = vec![
        connections::deauthorize(
            scope.db,
            &scope.platform_id,
            scope.mode.as_str(),
            scope.ctx.now_ms,
        )?,
        audit::event(
            scope.ctx,
            scope.db,
            Actor {
                platform_id: &scope.platform_id,
                subject: "stripe",
            },
            Change {
                project_id: None,
                action: "stripe.deauthorized",
                target_type: "stripe_connection",
                target_id: scope.account,
            },
            &json!({ "mode": scope.mode.as_str(), "eventId": scope.event.id }),
        )?,
    ];
    Ok(Plan::applied(&scope.platform_id, None, effects))
}

/// `checkout.session.completed` (or `async_payment_succeeded`): decided by the core's
/// [`settle::checkout::completed`]; a subscription's terms are asked of Stripe when it says so.
async fn checkout_completed(
    scope: &Scope<'_>,
    session: &CheckoutSession,
    rows: CompletionRows,
) -> Result<Plan, ApiError> {
    let CompletionRows {
        session: found,
        lines,
        short,
        order,
        tier,
        held,
    } = rows;
    let row = scope.our_session(found);
    let statuses: Vec<LineStatus> = lines.iter().map(|l| l.status).collect();
    let completion = settle::checkout::Completion {
        paid: session.is_paid(),
        payment_intent: session.payment_intent.as_deref(),
        subscription_id: session.subscription.as_deref(),
        lines: &statuses,
        short: &short,
        order_found: order.is_some(),
        tier: tier.as_ref().map(tier_ref),
        held: held.as_ref().map(|h| settle::checkout::HeldSubscription {
            project_id: &h.project_id,
            gives_access: h.status.gives_access(),
        }),
    };
    let stored = row.as_ref().map(stored_session);
    let mut decision = settle::checkout::completed(stored, &completion, None);
    let fetched;
    if let Decision::FetchTerms(subscription_id) = decision {
        // The event names the subscription only; its terms come from Stripe itself.
        let subscription = StripeClient::from_env(&scope.ctx.env, scope.mode)?
            .send(&retrieve_subscription(Some(scope.account), subscription_id))
            .await?;
        fetched = read_terms(&subscription, false)?;
        decision = settle::checkout::completed(stored, &completion, Some(&fetched));
    }
    let loaded = Loaded {
        cart: Cart {
            order: order.as_ref(),
            lines: &lines,
            short: &short,
        },
        subscription: None,
    };
    commit(scope, decision, loaded)
}

/// The session row as the core's rules read it.
fn stored_session(row: &SessionRow) -> settle::checkout::Session<'_> {
    settle::checkout::Session {
        id: &row.id,
        project_id: &row.project_id,
        kind: row.kind,
        status: row.status,
        end_user_id: row.end_user_id.as_deref(),
        tier_id: row.tier_id.as_deref(),
        order_id: row.order_id.as_deref(),
    }
}

/// Our subscription row as the core's rules read it.
fn stored_subscription(row: &billing::SubscriptionRow) -> StoredSubscription<'_> {
    StoredSubscription {
        project_id: &row.project_id,
        end_user_id: &row.end_user_id,
        tier_id: row.tier_id.as_deref(),
        plan: &row.plan,
        status: row.status,
        stripe_event_at: row.stripe_event_at,
    }
}

fn tier_ref(tier: &TierRef) -> settle::Tier<'_> {
    settle::Tier {
        id: &tier.id,
        name: &tier.name,
    }
}

/// What a cart's events report: its order, lines and the products short of stock.
#[derive(Clone, Copy)]
struct Cart<'a> {
    order: Option<&'a OrderRow>,
    lines: &'a [OrderLine],
    short: &'a [String],
}

/// The rows an event's notices report beyond what its plan names.
#[derive(Clone, Copy)]
struct Loaded<'a> {
    cart: Cart<'a>,
    /// Our subscription row, for the events of a plain update of it.
    subscription: Option<&'a billing::SubscriptionRow>,
}

impl Loaded<'_> {
    const NOTHING: Loaded<'static> = Loaded {
        cart: Cart {
            order: None,
            lines: &[],
            short: &[],
        },
        subscription: None,
    };
}

/// Turns the core's decision into the event's plan: each typed effect becomes its guarded
/// statements, each notice its developer webhooks. An ignored event is recorded with why,
/// logged unless it is merely late.
fn commit(scope: &Scope<'_>, decision: Decision<'_>, loaded: Loaded<'_>) -> Result<Plan, ApiError> {
    let plan = match decision {
        Decision::Apply(plan) => plan,
        Decision::Ignore(why, project) if why.outcome() == Outcome::Unrelated => {
            return Ok(scope.unrelated(project, why.reason()));
        }
        Decision::Ignore(why, project) => {
            return Ok(Plan::without_effects(
                why.outcome(),
                Some(&scope.platform_id),
                project,
            ));
        }
        Decision::FetchTerms(_) => {
            return Err(ApiError::internal(
                "a subscription's terms were asked for twice",
            ));
        }
    };
    let project = plan.project_id;
    let (db, now, event_at) = (scope.db, scope.ctx.now_ms, scope.event.created_ms());
    let mut effects = Vec::new();
    for effect in &plan.effects {
        match *effect {
            Effect::CompleteSession(id) => effects.push(billing::complete_session(db, id, now)?),
            Effect::AwaitSession(id) => effects.push(billing::await_session(db, id, now)?),
            Effect::FailSession(id) => effects.push(billing::fail_session(db, id, now)?),
            Effect::ExpireSession(id) => {
                effects.push(billing::close_session(db, id, "expired", now)?);
            }
            Effect::AwaitOrder(id, retake) => {
                effects.extend(billing::await_order(db, id, retake.lapsed(), now)?);
            }
            Effect::PayOrder(id, retake, intent) => {
                let products: Vec<String> = loaded
                    .cart
                    .lines
                    .iter()
                    .map(|l| l.product_id.clone())
                    .collect();
                effects.extend(billing::pay_order(
                    db,
                    project,
                    id,
                    &products,
                    intent,
                    retake.lapsed(),
                    now,
                )?);
            }
            Effect::OrderNeedsAttention(id, intent) => {
                log::warn(
                    &scope.ctx.request_id,
                    "order_needs_attention",
                    &format!(
                        "{id}: paid after its hold lapsed; short of {:?}",
                        loaded.cart.short
                    ),
                );
                effects.push(billing::order_needs_attention(
                    db, project, id, intent, now,
                )?);
            }
            Effect::FailOrder(id) => effects.extend(checkout::fail(db, id, now)?),
            Effect::ReleaseOrder(id) => effects.extend(checkout::release(db, id, now)?),
            Effect::Subscribe(grant) => effects.push(billing::upsert_subscription(
                db,
                stored_grant(grant),
                grant.terms,
                event_at,
                now,
            )?),
            Effect::RecordCustomer(grant) => effects.push(billing::set_stripe_customer(
                db,
                grant.project_id,
                grant.end_user_id,
                &grant.terms.stripe_customer_id,
                now,
            )?),
            Effect::PayPeriod(subscription_id, period) => effects.push(billing::pay_period(
                db,
                subscription_id,
                period.start,
                period.end,
                now,
            )?),
            Effect::RecordPayment(paid) => effects.push(billing::record_revenue(
                db,
                paid.project_id,
                paid.subscription_id,
                Revenue::Payment {
                    invoice_id: paid.invoice_id,
                    amount: paid.amount,
                },
                paid.currency,
                event_at,
                now,
            )?),
            Effect::MarkPastDue(subscription_id) => {
                effects.push(billing::mark_past_due(db, subscription_id, event_at, now)?);
            }
        }
    }
    let origin = scope.origin(project);
    let cart = loaded.cart;
    let mut notices = Vec::new();
    for notice in &plan.notices {
        match (*notice, cart.order) {
            (Notice::OrderPaid, Some(order)) => {
                notices.extend(origin.order_paid(order, cart.lines)?)
            }
            (Notice::OrderNeedsAttention, Some(order)) => {
                notices.push(origin.order_needs_attention(order, cart.lines, cart.short)?);
            }
            // The core emits an order's notices only when its row was found.
            (Notice::OrderPaid | Notice::OrderNeedsAttention, None) => {
                return Err(ApiError::internal("an order's events without its row"));
            }
            (Notice::Subscription(grant, had_access), _) => notices.extend(origin.subscription(
                stored_grant(grant),
                grant.terms,
                had_access,
                event_at,
            )?),
            (Notice::SubscriptionRow(subscription_id, status, period, access), _) => {
                let Some(row) = loaded.subscription else {
                    return Err(ApiError::internal(
                        "a subscription's events without its row",
                    ));
                };
                let data = SubscriptionData {
                    current_period_start: period.map(|p| p.start),
                    current_period_end: period.map(|p| p.end),
                    ..row_data(subscription_id, row, status)
                };
                notices.extend(origin.subscription_row(&data, access)?);
            }
        }
    }
    let mut applied = Plan::applied(&scope.platform_id, Some(project), effects).notifying(notices);
    if let Some((session_id, status)) = plan.push {
        applied = applied.pushing(session_id, status.public());
    }
    Ok(match plan.allowance_of {
        Some(end_user_id) => applied.changing_allowance_of(end_user_id),
        None => applied,
    })
}

fn stored_grant(grant: settle::Grant<'_>) -> Grant<'_> {
    Grant {
        project_id: grant.project_id,
        end_user_id: grant.end_user_id,
        tier_id: grant.tier_id,
        plan: grant.plan,
    }
}

/// `checkout.session.async_payment_failed`: the delayed payment of a completed session
/// failed. A cart's held stock goes back and its order is `failed`; nothing was granted.
fn checkout_failed(scope: &Scope<'_>, found: SessionRows) -> Result<Plan, ApiError> {
    let row = scope.our_session(found);
    let decision = settle::checkout::payment_failed(row.as_ref().map(stored_session));
    commit(scope, decision, Loaded::NOTHING)
}

/// `checkout.session.expired`: a cart's release also expires its session; only rows still
/// `held` give stock back.
fn checkout_expired(scope: &Scope<'_>, found: SessionRows) -> Result<Plan, ApiError> {
    let row = scope.our_session(found);
    let decision = settle::checkout::expired(row.as_ref().map(stored_session));
    commit(scope, decision, Loaded::NOTHING)
}

fn read_terms(subscription: &Subscription, deleted: bool) -> Result<SubscriptionTerms, ApiError> {
    SubscriptionTerms::read(subscription, deleted)
        .map_err(|e| ApiError::internal(format!("{}: {e}", subscription.id)))
}

/// `customer.subscription.*`: decided by [`settle::subscription::changed`].
fn subscription_changed(
    scope: &Scope<'_>,
    terms: &SubscriptionTerms,
    rows: &SubscriptionRows,
) -> Result<Plan, ApiError> {
    let facts = settle::subscription::Facts {
        held: rows.held.as_ref().map(stored_subscription),
        owned: scope.owns(rows.owner.as_ref()),
        end_user_exists: rows.end_user_exists,
        by_terms: rows.by_terms.as_ref().map(tier_ref),
        by_metadata: rows.by_metadata.as_ref().map(tier_ref),
    };
    let decision = settle::subscription::changed(terms, &facts, scope.event.created_ms());
    commit(scope, decision, Loaded::NOTHING)
}

/// What a plain UPDATE of our row reports: the row's own fields with its new `status`.
fn row_data<'a>(
    stripe_subscription_id: &'a str,
    row: &'a billing::SubscriptionRow,
    status: Status,
) -> SubscriptionData<'a> {
    SubscriptionData {
        stripe_subscription_id,
        stripe_customer_id: None,
        end_user_id: &row.end_user_id,
        tier_id: row.tier_id.as_deref(),
        plan: &row.plan,
        status,
        amount: None,
        currency: None,
        interval: None,
        current_period_start: None,
        current_period_end: None,
        cancel_at_period_end: None,
        canceled_at: None,
    }
}

/// An invoice that bills no subscription: nothing of ours to change.
fn not_a_subscription(scope: &Scope<'_>) -> Plan {
    Plan::without_effects(Outcome::Unhandled, Some(&scope.platform_id), None)
}

/// The invoice as the core's rules read it.
fn invoice_facts<'a>(
    invoice: &'a Invoice,
    subscription_id: &'a str,
) -> settle::subscription::Invoice<'a> {
    settle::subscription::Invoice {
        id: &invoice.id,
        subscription_id,
        amount_paid: invoice.amount_paid,
        currency: invoice.currency.as_deref(),
        service: invoice.service_period(),
        proration: invoice.is_proration(),
    }
}

/// `invoice.paid`: decided by [`settle::subscription::invoice_paid`].
fn invoice_paid(
    scope: &Scope<'_>,
    invoice: &Invoice,
    subscription_id: &str,
    rows: &InvoicedRows,
) -> Result<Plan, ApiError> {
    let decision = settle::subscription::invoice_paid(
        &invoice_facts(invoice, subscription_id),
        rows.held.as_ref().map(stored_subscription),
        scope.owns(rows.owner.as_ref()),
    );
    let loaded = Loaded {
        subscription: rows.held.as_ref(),
        ..Loaded::NOTHING
    };
    commit(scope, decision, loaded)
}

/// `invoice.payment_failed`: decided by [`settle::subscription::invoice_failed`].
fn invoice_failed(
    scope: &Scope<'_>,
    invoice: &Invoice,
    subscription_id: &str,
    rows: &InvoicedRows,
) -> Result<Plan, ApiError> {
    let decision = settle::subscription::invoice_failed(
        &invoice_facts(invoice, subscription_id),
        rows.held.as_ref().map(stored_subscription),
        scope.owns(rows.owner.as_ref()),
        scope.event.created_ms(),
    );
    let loaded = Loaded {
        subscription: rows.held.as_ref(),
        ..Loaded::NOTHING
    };
    commit(scope, decision, loaded)
}

/// Events on Tollgate's own account: a developer's own subscription (metadata
/// `tollgate_platform_id`) sets the billing status that gates their live keys. Only live
/// events count outside development, so a test payment can never unlock live traffic.
async fn platform_event(
    ctx: &Ctx,
    db: &D1Database,
    event: &Event,
    event_id: Option<&str>,
) -> Result<Option<Plan>, ApiError> {
    let payload = payload(event);
    // The platform the object names is read with the event's own record, whether or not the
    // event turns out to count: one round trip either way.
    let named = match &payload {
        Ok(Payload::CheckoutCompleted(session)) if session.subscription.is_some() => {
            session.metadata.get(metadata::PLATFORM)
        }
        Ok(Payload::Subscription(_, subscription)) => subscription.metadata.get(metadata::PLATFORM),
        _ => None,
    };
    let head = Head {
        event_id,
        account: None,
    };
    let lookup = PlatformBilled {
        platform_id: named.map(String::as_str),
    };
    let (known, results) = event_reads::read(db, &head, lookup.statements(db)?).await?;
    if known.seen {
        return Ok(None);
    }
    let billed_at = lookup.found(&results)?;
    platform_plan(ctx, db, event, payload?, billed_at)
        .await
        .map(Some)
}

/// A new event on Tollgate's own account, with the `billing_event_at` of the platform its
/// object names (`None`: no such platform).
async fn platform_plan(
    ctx: &Ctx,
    db: &D1Database,
    event: &Event,
    payload: Payload,
    billed_at: Option<Option<i64>>,
) -> Result<Plan, ApiError> {
    if !event.livemode && ctx.config.environment != Environment::Development {
        return Ok(Plan::without_effects(Outcome::Unhandled, None, None));
    }
    let subscription = match payload {
        Payload::CheckoutCompleted(session) => {
            match (
                session.metadata.get(metadata::PLATFORM),
                &session.subscription,
            ) {
                (Some(_), Some(id)) => Some((
                    StripeClient::from_env(&ctx.env, event.mode())?
                        .send(&retrieve_subscription(None, id))
                        .await?,
                    false,
                    session.metadata.get(metadata::PLATFORM).cloned(),
                )),
                _ => None,
            }
        }
        Payload::Subscription(change, subscription) => {
            let platform = subscription.metadata.get(metadata::PLATFORM).cloned();
            Some((
                *subscription,
                change == SubscriptionChange::Deleted,
                platform,
            ))
        }
        _ => None,
    };
    let Some((subscription, deleted, Some(platform_id))) = subscription else {
        return Ok(Plan::without_effects(Outcome::Unhandled, None, None));
    };
    let Some(billed_at) = billed_at else {
        log::warn(
            &ctx.request_id,
            "stripe_event_unrelated",
            &format!("{} {}: no platform {platform_id}", event.id, event.kind),
        );
        return Ok(Plan::without_effects(Outcome::Unrelated, None, None));
    };
    if is_stale(event.created_ms(), billed_at) {
        return Ok(Plan::without_effects(
            Outcome::Stale,
            Some(&platform_id),
            None,
        ));
    }
    let period_end = subscription
        .period()
        .map(|(_, end)| end.saturating_mul(1000));
    let effects = vec![billing::platform_billing(
        db,
        &PlatformBilling {
            platform_id: &platform_id,
            status: platform_billing_status(&subscription.status, deleted),
            customer: &subscription.customer,
            subscription: &subscription.id,
            period_end,
            event_at: event.created_ms(),
        },
        ctx.now_ms,
    )?];
    Ok(Plan::applied(&platform_id, None, effects))
}

/// `charge.refunded`: the order the charge paid follows the cumulative refund (a full refund
/// revokes its access for good); a subscription's charge is recorded for its project.
fn charge_refunded(
    scope: &Scope<'_>,
    charge: &Charge,
    rows: ChargedRows,
) -> Result<Plan, ApiError> {
    let change = ChargeChange::Refunded {
        amount_refunded: charge.amount_refunded,
        full: charge.refunded || charge.amount_refunded >= charge.amount,
    };
    match rows.order {
        Some(paid) => settle_order(scope, &paid, change, &charge.id, None),
        None => subscription_charge(
            scope,
            charge,
            "subscription.charge_refunded",
            None,
            rows.subscription,
        ),
    }
}

/// What a dispute event reads first: the order its charge paid. The customer a
/// subscription's charge billed is not in the dispute; Stripe names it ([`disputed`]).
fn disputed_charge<'a>(account: &'a str, dispute: &'a Dispute) -> Charged<'a> {
    Charged {
        account,
        payment_intent: dispute.payment_intent.as_deref(),
        charge: &dispute.charge,
        customer: None,
    }
}

/// `charge.dispute.created` and `charge.dispute.closed`: an open dispute revokes the order's
/// access, a won one restores what the dispute revoked, a lost one keeps it revoked. Dispute
/// events older than the last one applied to the order are stale.
async fn disputed(
    scope: &Scope<'_>,
    dispute: &Dispute,
    closed: bool,
    rows: ChargedRows,
) -> Result<Plan, ApiError> {
    let change = if closed {
        ChargeChange::DisputeClosed {
            lost: dispute.is_lost(),
        }
    } else {
        ChargeChange::DisputeOpened
    };
    let at = scope.event.created_ms();
    if let Some(paid) = rows.order {
        if is_stale(at, paid.order.dispute_event_at) {
            return Ok(Plan::without_effects(
                Outcome::Stale,
                Some(&scope.platform_id),
                Some(&paid.order.project_id),
            ));
        }
        return settle_order(scope, &paid, change, &dispute.charge, Some(at));
    }
    // A dispute names its charge only; the charge names the customer billed.
    let charge = StripeClient::from_env(&scope.ctx.env, scope.mode)?
        .send(&retrieve_charge(scope.account, &dispute.charge))
        .await?;
    let billed = match charge.customer.as_deref() {
        Some(id) => event_reads::rows(scope.db, &Customer { id }).await?,
        None => None,
    };
    let action = if closed {
        "subscription.dispute_closed"
    } else {
        "subscription.disputed"
    };
    subscription_charge(scope, &charge, action, Some(dispute), billed)
}

fn settle_order(
    scope: &Scope<'_>,
    paid: &PaidOrder,
    change: ChargeChange,
    charge: &str,
    dispute_at: Option<i64>,
) -> Result<Plan, ApiError> {
    let order = &paid.order;
    if !scope.owns(paid.owner.as_ref()) {
        return Ok(scope.unrelated(
            Some(&order.project_id),
            "the order's project is not this platform's",
        ));
    }
    let Some(decision) = refunds::decide(order.standing(), change) else {
        // Already reflected: a repeat with a new id, a smaller cumulative amount, a closed dispute.
        return Ok(Plan::without_effects(
            Outcome::Stale,
            Some(&scope.platform_id),
            Some(&order.project_id),
        ));
    };
    let now = scope.ctx.now_ms;
    let effects = chargebacks::settle(scope.db, order, &decision, charge, dispute_at, now)?;
    let notices =
        scope
            .origin(&order.project_id)
            .order_charge(order, &decision, charge, &paid.products)?;
    Ok(Plan::applied(&scope.platform_id, Some(&order.project_id), effects).notifying(notices))
}

/// A refund or dispute of a subscription's charge: recorded in the project's audit trail,
/// with no change to the plan. The subscription's own status (which Stripe moves when the
/// developer cancels it, or a renewal fails) is what gives or takes access.
fn subscription_charge(
    scope: &Scope<'_>,
    charge: &Charge,
    action: &str,
    dispute: Option<&Dispute>,
    billed: Option<BilledSubscription>,
) -> Result<Plan, ApiError> {
    let Some(BilledSubscription {
        subscription: held,
        owner,
    }) = billed
    else {
        return Ok(scope.unrelated(None, "the charge paid no order or subscription of ours"));
    };
    if !scope.owns(owner.as_ref()) {
        return Ok(scope.unrelated(
            Some(&held.project_id),
            "the subscription's project is not this platform's",
        ));
    }
    let mut effects = vec![audit::event(
        scope.ctx,
        scope.db,
        Actor {
            platform_id: &scope.platform_id,
            subject: "stripe",
        },
        Change {
            project_id: Some(&held.project_id),
            action,
            target_type: "subscription",
            target_id: &held.stripe_subscription_id,
        },
        &json!({
            "eventId": scope.event.id,
            "chargeId": charge.id,
            "amount": charge.amount,
            "amountRefunded": charge.amount_refunded,
            "disputeStatus": dispute.map(|d| d.status.as_str()),
            "subscriptionStatus": held.status,
        }),
    )?];
    // A refund nets the revenue of the day the charge was made; a dispute changes no figure.
    if let (None, Some(currency)) = (dispute, charge.currency.as_deref())
        && charge.amount_refunded > 0
    {
        effects.push(billing::record_revenue(
            scope.db,
            &held.project_id,
            &held.stripe_subscription_id,
            Revenue::Refund {
                charge_id: &charge.id,
                refunded: charge.amount_refunded,
            },
            currency,
            charge
                .created
                .map_or(scope.event.created_ms(), |at| at.saturating_mul(1000)),
            scope.ctx.now_ms,
        )?);
    }
    Ok(Plan::applied(
        &scope.platform_id,
        Some(&held.project_id),
        effects,
    ))
}
