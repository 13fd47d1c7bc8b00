//! Applying one verified Stripe event exactly once: find its owner, decide its effects, and
//! commit the event's row and every effect as one D1 batch, the row first.
//!
//! The row is a plain INSERT on the event id, so a second delivery — even one racing the
//! first — fails the whole batch and changes nothing. Every lookup here only decides which
//! statements to send; anything that must hold at commit time is also guarded in the SQL.

use crate::emitted::{Origin, SubscriptionData, gives_access};
use serde_json::json;
use tollgate::Mode;
use tollgate::refunds::{self, ChargeChange};
use tollgate::stripe::calls::retrieve_charge;
use tollgate::stripe::calls::retrieve_subscription;
use tollgate::stripe::events::{
    Event, Outcome, Payload, Receipt, SubscriptionChange, SubscriptionTerms, is_stale, metadata,
    platform_billing_status,
};
use tollgate::stripe::objects::{Charge, CheckoutSession, Dispute, Invoice, Subscription};
use tollgate_edge::audit::{self, Actor, Change};
use tollgate_edge::db::billing::{self, EventRecord, Grant, PlatformBilling, Revenue, TierRef};
use tollgate_edge::db::catalog;
use tollgate_edge::db::checkout::{self, SessionRow};
use tollgate_edge::db::refunds::{self as chargebacks, ChargedOrder};
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

    /// Whether `project_id` is a live project of this platform in this mode.
    async fn owns(&self, project_id: &str) -> Result<bool, ApiError> {
        Ok(billing::project_scope(self.db, project_id)
            .await?
            .is_some_and(|p| p.platform_id == self.platform_id && p.mode == self.mode.as_str()))
    }

    /// Our row for the session, when it was made on this account for a project we own.
    async fn our_session(&self, session: &CheckoutSession) -> Result<Option<SessionRow>, ApiError> {
        let Some(row) = checkout::session_by_id(self.db, &session.id).await? else {
            return Ok(None);
        };
        if row.account_id != self.account || !self.owns(&row.project_id).await? {
            return Ok(None);
        }
        Ok(Some(row))
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
    // An early answer for the common retry; the batch below is what guarantees it.
    if again == Again::No && billing::event_seen(&db, &event.id).await? {
        return Ok(Receipt::duplicate());
    }
    let plan = plan(ctx, &db, event).await?;
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

async fn plan(ctx: &Ctx, db: &D1Database, event: &Event) -> Result<Plan, ApiError> {
    let Some(account) = event.account.as_deref() else {
        return platform_event(ctx, db, event, payload(event)?).await;
    };
    let mode = event.mode();
    let Some(platform_id) = connections::owner(db, account, mode.as_str()).await? else {
        log::warn(
            &ctx.request_id,
            "stripe_event_unrelated",
            &format!(
                "{} {}: {account} is not connected in {mode}",
                event.id, event.kind
            ),
        );
        return Ok(Plan::without_effects(Outcome::Unrelated, None, None));
    };
    let payload = payload(event)?;
    let scope = Scope {
        ctx,
        db,
        event,
        account,
        mode,
        platform_id,
    };
    match payload {
        Payload::Unhandled => Ok(Plan::without_effects(
            Outcome::Unhandled,
            Some(&scope.platform_id),
            None,
        )),
        Payload::Deauthorized => deauthorized(&scope),
        Payload::CheckoutCompleted(session) => checkout_completed(&scope, &session).await,
        Payload::CheckoutExpired(session) => checkout_expired(&scope, &session).await,
        // The delayed payment's word: the session now paid is applied as a paid completion.
        Payload::CheckoutPaid(session) => checkout_completed(&scope, &session).await,
        Payload::CheckoutPaymentFailed(session) => checkout_failed(&scope, &session).await,
        Payload::Subscription(change, subscription) => {
            subscription_changed(&scope, change, &subscription).await
        }
        Payload::InvoicePaid(invoice) => invoice_paid(&scope, &invoice).await,
        Payload::InvoicePaymentFailed(invoice) => invoice_failed(&scope, &invoice).await,
        Payload::ChargeRefunded(charge) => charge_refunded(&scope, &charge).await,
        Payload::DisputeCreated(dispute) => disputed(&scope, &dispute, false).await,
        Payload::DisputeClosed(dispute) => disputed(&scope, &dispute, true).await,
    }
}

/// The event's typed object. One that does not match its type is our bug or Stripe's change:
/// answer 500 so Stripe keeps the event and retries it once fixed, rather than acknowledging
/// a loss. Only events we own get this far, so strangers' oddities never cause retries.
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

/// A completed session (or one whose delayed payment succeeded). Only money fulfils: a
/// session `paid` or `no_payment_required` pays the order (entitlements, committed stock,
/// `order.completed`); an unpaid one (a delayed method) waits as `awaiting_payment` with its
/// stock held and nothing granted. A subscription's access always follows its own status
/// as Stripe reports it, so an `incomplete` one raises no plan.
async fn checkout_completed(
    scope: &Scope<'_>,
    session: &CheckoutSession,
) -> Result<Plan, ApiError> {
    let Some(row) = scope.our_session(session).await? else {
        return Ok(scope.unrelated(None, "not a checkout session of this platform's projects"));
    };
    let project = row.project_id.as_str();
    let paid = session.is_paid();
    // Applied already — by a reconcile, or by another event for the session: the effects
    // exist once; this event is recorded and changes nothing. A failed payment is final too.
    if matches!(row.status.as_str(), "complete" | "failed")
        || (!paid && row.status == "awaiting_payment")
    {
        return Ok(Plan::without_effects(
            Outcome::Stale,
            Some(&scope.platform_id),
            Some(project),
        ));
    }
    let now = scope.ctx.now_ms;
    let mut effects = vec![if paid {
        billing::complete_session(scope.db, &row.id, now)?
    } else {
        billing::await_session(scope.db, &row.id, now)?
    }];
    let notices;
    match (
        row.kind.as_str(),
        &row.order_id,
        &row.end_user_id,
        &session.subscription,
    ) {
        ("payment", Some(order_id), _, _) => {
            let lines = checkout::order_lines(scope.db, project, order_id).await?;
            // A hold that lapsed before Stripe's word came is taken again if the stock is
            // still there; a paid order that cannot have it needs the developer.
            let lapsed: Vec<(&str, i64)> = lines
                .iter()
                .filter(|l| l.status == "released")
                .map(|l| (l.product_id.as_str(), l.quantity))
                .collect();
            let short = if lapsed.is_empty() {
                Vec::new()
            } else {
                checkout::short(scope.db, project, &lapsed).await?
            };
            let order = checkout::order(scope.db, project, order_id).await?;
            let intent = session.payment_intent.as_deref();
            let retake = !lapsed.is_empty() && short.is_empty();
            if !paid {
                notices = Vec::new();
                effects.extend(billing::await_order(scope.db, order_id, retake, now)?);
            } else if short.is_empty() {
                let products: Vec<String> = lines.iter().map(|r| r.product_id.clone()).collect();
                notices = match &order {
                    Some(order) => scope.origin(project).order_paid(order, &lines)?,
                    None => Vec::new(),
                };
                effects.extend(billing::pay_order(
                    scope.db, project, order_id, &products, intent, retake, now,
                )?);
            } else {
                log::warn(
                    &scope.ctx.request_id,
                    "order_needs_attention",
                    &format!("{order_id}: paid after its hold lapsed; short of {short:?}"),
                );
                notices = match &order {
                    Some(order) => vec![
                        scope
                            .origin(project)
                            .order_needs_attention(order, &lines, &short)?,
                    ],
                    None => Vec::new(),
                };
                effects.push(billing::order_needs_attention(
                    scope.db, project, order_id, intent, now,
                )?);
            }
        }
        ("subscription", _, Some(end_user_id), Some(subscription_id)) => {
            let Some(tier) = row.tier_id.as_deref() else {
                return Ok(scope.unrelated(Some(project), "the session names no tier"));
            };
            let Some(tier) = catalog::tier(scope.db, project, tier)
                .await?
                .map(TierRef::from)
            else {
                return Ok(
                    scope.unrelated(Some(project), "the session's tier is not the project's")
                );
            };
            let held = billing::subscription(scope.db, subscription_id).await?;
            if held.as_ref().is_some_and(|h| h.project_id != project) {
                return Ok(
                    scope.unrelated(Some(project), "the subscription belongs to another project")
                );
            }
            // The event names the subscription only; its terms come from Stripe itself.
            let subscription = StripeClient::from_env(&scope.ctx.env, scope.mode)?
                .send(&retrieve_subscription(Some(scope.account), subscription_id))
                .await?;
            let terms = read_terms(&subscription, false)?;
            let grant = Grant {
                project_id: project,
                end_user_id,
                tier_id: Some(&tier.id),
                plan: &tier.name,
            };
            effects.push(billing::upsert_subscription(
                scope.db,
                grant,
                &terms,
                scope.event.created_ms(),
                now,
            )?);
            notices = scope.origin(project).subscription(
                grant,
                &terms,
                held.is_some_and(|h| gives_access(&h.status)),
                scope.event.created_ms(),
            )?;
            effects.push(billing::set_stripe_customer(
                scope.db,
                project,
                end_user_id,
                &terms.stripe_customer_id,
                now,
            )?);
        }
        _ => {
            return Ok(scope.unrelated(Some(project), "the session lacks what its kind needs"));
        }
    }
    let plan = Plan::applied(&scope.platform_id, Some(project), effects)
        .notifying(notices)
        .pushing(&row.id, if paid { "complete" } else { "pending_payment" });
    Ok(match row.end_user_id.as_deref() {
        Some(end_user_id) if row.kind == "subscription" => plan.changing_allowance_of(end_user_id),
        _ => plan,
    })
}

/// `checkout.session.async_payment_failed`: the delayed payment of a completed session
/// failed. A cart's held stock goes back and its order is `failed`; nothing was granted.
async fn checkout_failed(scope: &Scope<'_>, session: &CheckoutSession) -> Result<Plan, ApiError> {
    let Some(row) = scope.our_session(session).await? else {
        return Ok(scope.unrelated(None, "not a checkout session of this platform's projects"));
    };
    if matches!(row.status.as_str(), "complete" | "failed") {
        return Ok(Plan::without_effects(
            Outcome::Stale,
            Some(&scope.platform_id),
            Some(&row.project_id),
        ));
    }
    let now = scope.ctx.now_ms;
    let effects = match (row.kind.as_str(), &row.order_id) {
        ("payment", Some(order_id)) => checkout::fail(scope.db, order_id, now)?,
        _ => vec![billing::fail_session(scope.db, &row.id, now)?],
    };
    Ok(
        Plan::applied(&scope.platform_id, Some(&row.project_id), effects)
            .pushing(&row.id, "failed"),
    )
}

async fn checkout_expired(scope: &Scope<'_>, session: &CheckoutSession) -> Result<Plan, ApiError> {
    let Some(row) = scope.our_session(session).await? else {
        return Ok(scope.unrelated(None, "not a checkout session of this platform's projects"));
    };
    let now = scope.ctx.now_ms;
    // A cart's release also expires its session; only rows still `held` give stock back.
    let effects = match (row.kind.as_str(), &row.order_id) {
        ("payment", Some(order_id)) => checkout::release(scope.db, order_id, now)?,
        _ => vec![billing::close_session(scope.db, &row.id, "expired", now)?],
    };
    Ok(
        Plan::applied(&scope.platform_id, Some(&row.project_id), effects)
            .pushing(&row.id, "expired"),
    )
}

fn read_terms(subscription: &Subscription, deleted: bool) -> Result<SubscriptionTerms, ApiError> {
    SubscriptionTerms::read(subscription, deleted)
        .map_err(|e| ApiError::internal(format!("{}: {e}", subscription.id)))
}

async fn subscription_changed(
    scope: &Scope<'_>,
    change: SubscriptionChange,
    subscription: &Subscription,
) -> Result<Plan, ApiError> {
    let terms = read_terms(subscription, change == SubscriptionChange::Deleted)?;
    let db = scope.db;
    let held = billing::subscription(db, &terms.stripe_subscription_id).await?;
    // Known subscriptions keep their project and subscriber; a new one (an `updated` may
    // arrive before `created`) is placed by our metadata, checked against the account's owner.
    let (project, end_user, held_tier, held_plan) = match &held {
        Some(row) => (
            row.project_id.clone(),
            row.end_user_id.clone(),
            row.tier_id.clone(),
            Some(row.plan.clone()),
        ),
        None => {
            let (Some(project), Some(end_user)) = (
                terms.metadata.get(metadata::PROJECT),
                terms.metadata.get(metadata::END_USER),
            ) else {
                return Ok(scope.unrelated(None, "no Tollgate project or end user in its metadata"));
            };
            (project.clone(), end_user.clone(), None, None)
        }
    };
    if !scope.owns(&project).await? {
        return Ok(scope.unrelated(
            Some(&project),
            "the project is not this platform's in this mode",
        ));
    }
    if held.is_none() && !billing::end_user_exists(db, &project, &end_user).await? {
        return Ok(scope.unrelated(Some(&project), "the end user is not the project's"));
    }
    if is_stale(
        scope.event.created_ms(),
        held.as_ref().map(|h| h.stripe_event_at),
    ) {
        return Ok(Plan::without_effects(
            Outcome::Stale,
            Some(&scope.platform_id),
            Some(&project),
        ));
    }
    // The tier follows the price when the price is one of the project's tiers (a plan
    // change); otherwise what was granted stays. The price is the one Stripe bills, never a
    // `pending_update`'s, so an unpaid upgrade grants nothing; a downgrade keeps the tier paid
    // for until its period ends (the schedule is in the subscription's metadata).
    let by_price = billing::tier_for_terms(db, &project, &terms).await?;
    let by_metadata = match (&by_price, &held, terms.metadata.get(metadata::TIER)) {
        (None, None, Some(tier)) => catalog::tier(db, &project, tier).await?.map(TierRef::from),
        _ => None,
    };
    let (tier_id, plan) = match by_price.or(by_metadata) {
        Some(tier) => (Some(tier.id), tier.name),
        None => match held_plan {
            Some(plan) => (held_tier, plan),
            None => {
                return Ok(
                    scope.unrelated(Some(&project), "no tier of the project sells its price")
                );
            }
        },
    };
    let grant = Grant {
        project_id: &project,
        end_user_id: &end_user,
        tier_id: tier_id.as_deref(),
        plan: &plan,
    };
    let effects = vec![billing::upsert_subscription(
        db,
        grant,
        &terms,
        scope.event.created_ms(),
        scope.ctx.now_ms,
    )?];
    let notices = scope.origin(&project).subscription(
        grant,
        &terms,
        held.as_ref().is_some_and(|h| gives_access(&h.status)),
        scope.event.created_ms(),
    )?;
    Ok(Plan::applied(&scope.platform_id, Some(&project), effects)
        .notifying(notices)
        .changing_allowance_of(&end_user))
}

/// What a plain UPDATE of our row reports: the row's own fields with its new `status`.
fn row_data<'a>(
    stripe_subscription_id: &'a str,
    row: &'a billing::SubscriptionRow,
    status: &'a str,
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

/// Our subscription row for an invoice, when it is one of this platform's.
async fn invoiced(
    scope: &Scope<'_>,
    invoice: &Invoice,
) -> Result<Result<(String, billing::SubscriptionRow), Plan>, ApiError> {
    let Some(subscription_id) = invoice.subscription_id() else {
        return Ok(Err(Plan::without_effects(
            Outcome::Unhandled,
            Some(&scope.platform_id),
            None,
        )));
    };
    let Some(row) = billing::subscription(scope.db, subscription_id).await? else {
        return Ok(Err(
            scope.unrelated(None, "no subscription of ours is invoiced")
        ));
    };
    if !scope.owns(&row.project_id).await? {
        return Ok(Err(scope.unrelated(
            Some(&row.project_id),
            "the subscription's project is not this platform's",
        )));
    }
    Ok(Ok((subscription_id.to_owned(), row)))
}

async fn invoice_paid(scope: &Scope<'_>, invoice: &Invoice) -> Result<Plan, ApiError> {
    let (subscription_id, row) = match invoiced(scope, invoice).await? {
        Ok(found) => found,
        Err(plan) => return Ok(plan),
    };
    // What it took is revenue, whether it paid for a period or for an upgrade's proration.
    let revenue = match invoice.currency.as_deref() {
        Some(currency) if invoice.amount_paid > 0 => Some(billing::record_revenue(
            scope.db,
            &row.project_id,
            &subscription_id,
            Revenue::Payment {
                invoice_id: &invoice.id,
                amount: invoice.amount_paid,
            },
            currency,
            scope.event.created_ms(),
            scope.ctx.now_ms,
        )?),
        _ => None,
    };
    // A proration's lines run from the change to the period's end: paying it starts no period
    // (the usage period stays), and the tier it pays for arrives with the subscription's update.
    let service = invoice.service_period().filter(|_| !invoice.is_proration());
    let Some((start, end)) = service else {
        return Ok(match revenue {
            Some(paid) => Plan::applied(&scope.platform_id, Some(&row.project_id), vec![paid]),
            None => Plan::without_effects(
                Outcome::Unhandled,
                Some(&scope.platform_id),
                Some(&row.project_id),
            ),
        });
    };
    let (start, end) = (start.saturating_mul(1000), end.saturating_mul(1000));
    let mut effects = vec![billing::pay_period(
        scope.db,
        &subscription_id,
        start,
        end,
        scope.ctx.now_ms,
    )?];
    effects.extend(revenue);
    let notices = scope.origin(&row.project_id).subscription_row(
        &SubscriptionData {
            current_period_start: Some(start),
            current_period_end: Some(end),
            ..row_data(&subscription_id, &row, &row.status)
        },
        None,
    )?;
    Ok(
        Plan::applied(&scope.platform_id, Some(&row.project_id), effects)
            .notifying(notices)
            .changing_allowance_of(&row.end_user_id),
    )
}

async fn invoice_failed(scope: &Scope<'_>, invoice: &Invoice) -> Result<Plan, ApiError> {
    let (subscription_id, row) = match invoiced(scope, invoice).await? {
        Ok(found) => found,
        Err(plan) => return Ok(plan),
    };
    // An upgrade's unpaid proration leaves the subscription as it was (the change waits in a
    // `pending_update`): the tier already paid for keeps its access.
    if invoice.is_proration() {
        return Ok(Plan::without_effects(
            Outcome::Unhandled,
            Some(&scope.platform_id),
            Some(&row.project_id),
        ));
    }
    if is_stale(scope.event.created_ms(), Some(row.stripe_event_at)) {
        return Ok(Plan::without_effects(
            Outcome::Stale,
            Some(&scope.platform_id),
            Some(&row.project_id),
        ));
    }
    let effects = vec![billing::mark_past_due(
        scope.db,
        &subscription_id,
        scope.event.created_ms(),
        scope.ctx.now_ms,
    )?];
    // Only an active or trialing subscription becomes past_due, and that loses access.
    let notices = scope.origin(&row.project_id).subscription_row(
        &row_data(&subscription_id, &row, "past_due"),
        gives_access(&row.status).then_some(false),
    )?;
    Ok(
        Plan::applied(&scope.platform_id, Some(&row.project_id), effects)
            .notifying(notices)
            .changing_allowance_of(&row.end_user_id),
    )
}

/// Events on Tollgate's own account: a developer's own subscription (metadata
/// `tollgate_platform_id`) sets the billing status that gates their live keys. Only live
/// events count outside development, so a test payment can never unlock live traffic.
async fn platform_event(
    ctx: &Ctx,
    db: &D1Database,
    event: &Event,
    payload: Payload,
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
    let Some(billed_at) = billing::platform_billing_event_at(db, &platform_id).await? else {
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
async fn charge_refunded(scope: &Scope<'_>, charge: &Charge) -> Result<Plan, ApiError> {
    let change = ChargeChange::Refunded {
        amount_refunded: charge.amount_refunded,
        full: charge.refunded || charge.amount_refunded >= charge.amount,
    };
    let paid_order = chargebacks::charged_order(
        scope.db,
        scope.account,
        charge.payment_intent.as_deref(),
        &charge.id,
    )
    .await?;
    match paid_order {
        Some(order) => settle_order(scope, &order, change, &charge.id, None).await,
        None => subscription_charge(scope, charge, "subscription.charge_refunded", None).await,
    }
}

/// `charge.dispute.created` and `charge.dispute.closed`: an open dispute revokes the order's
/// access, a won one restores what the dispute revoked, a lost one keeps it revoked. Dispute
/// events older than the last one applied to the order are stale.
async fn disputed(scope: &Scope<'_>, dispute: &Dispute, closed: bool) -> Result<Plan, ApiError> {
    let change = if closed {
        ChargeChange::DisputeClosed {
            lost: dispute.is_lost(),
        }
    } else {
        ChargeChange::DisputeOpened
    };
    let at = scope.event.created_ms();
    let paid_order = chargebacks::charged_order(
        scope.db,
        scope.account,
        dispute.payment_intent.as_deref(),
        &dispute.charge,
    )
    .await?;
    if let Some(order) = paid_order {
        if is_stale(at, order.dispute_event_at) {
            return Ok(Plan::without_effects(
                Outcome::Stale,
                Some(&scope.platform_id),
                Some(&order.project_id),
            ));
        }
        return settle_order(scope, &order, change, &dispute.charge, Some(at)).await;
    }
    // A dispute names its charge only; the charge names the customer billed.
    let charge = StripeClient::from_env(&scope.ctx.env, scope.mode)?
        .send(&retrieve_charge(scope.account, &dispute.charge))
        .await?;
    let action = if closed {
        "subscription.dispute_closed"
    } else {
        "subscription.disputed"
    };
    subscription_charge(scope, &charge, action, Some(dispute)).await
}

async fn settle_order(
    scope: &Scope<'_>,
    order: &ChargedOrder,
    change: ChargeChange,
    charge: &str,
    dispute_at: Option<i64>,
) -> Result<Plan, ApiError> {
    if !scope.owns(&order.project_id).await? {
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
    let products = chargebacks::entitled_products(scope.db, &order.id).await?;
    let notices = scope
        .origin(&order.project_id)
        .order_charge(order, &decision, charge, &products)?;
    Ok(Plan::applied(&scope.platform_id, Some(&order.project_id), effects).notifying(notices))
}

/// A refund or dispute of a subscription's charge: recorded in the project's audit trail,
/// with no change to the plan. The subscription's own status (which Stripe moves when the
/// developer cancels it, or a renewal fails) is what gives or takes access.
async fn subscription_charge(
    scope: &Scope<'_>,
    charge: &Charge,
    action: &str,
    dispute: Option<&Dispute>,
) -> Result<Plan, ApiError> {
    let held = match charge.customer.as_deref() {
        Some(customer) => chargebacks::charged_subscription(scope.db, customer).await?,
        None => None,
    };
    let Some(held) = held else {
        return Ok(scope.unrelated(None, "the charge paid no order or subscription of ours"));
    };
    if !scope.owns(&held.project_id).await? {
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
