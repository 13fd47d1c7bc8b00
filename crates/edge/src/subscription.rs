//! An end user's subscription write carried out: the target tier loaded, the core's plan
//! ([`tollgate::subscription::plan`]) asked of Stripe on the project's connected account,
//! and the answer with its audit record. Shared by the end user's routes (api worker) and the
//! developer's console routes (catalog worker), so both lanes follow one set of rules.
//!
//! Our row — and so the usage limit — changes only when Stripe's webhook is applied: the
//! provider stays the one source of truth, and nothing here grants access.

use crate::audit::{self, Actor, Change};
use crate::db::billing::{self, HeldSubscription};
use crate::db::catalog::{self, Listed, TierRow};
use crate::db::connections;
use crate::stripe::StripeClient;
use crate::{ApiError, Ctx};
use serde::Serialize;
use serde_json::json;
use tollgate::Mode;
use tollgate::ids::new_id;
use tollgate::stripe::calls::{self, Operation, PriceChange, SubscriptionUpdate};
use tollgate::stripe::objects::Subscription;
use tollgate::subscription::{
    self as rules, Held, Live, Plan, Refusal, Route, Target, Write, WriteInput,
};
use worker::{D1Database, D1PreparedStatement};

/// Whose subscription: the project (its platform and mode) and the end user.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    /// The project.
    pub project_id: &'a str,
    /// Its platform (whose Stripe connection bills).
    pub platform_id: &'a str,
    /// Test or live.
    pub mode: Mode,
    /// The end user.
    pub customer_id: &'a str,
}

/// The answer's shape, whether read from our row or from Stripe.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    subscription_id: String,
    tier_id: Option<String>,
    tier: Option<String>,
    status: String,
    current_period_start: Option<i64>,
    current_period_end: Option<i64>,
    cancel_at_period_end: bool,
    amount: Option<i64>,
    currency: Option<String>,
    interval: Option<String>,
    /// Only on a change's answer: when the asked tier takes effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<ChangeView>,
}

impl View {
    /// The subscription as last applied from the provider.
    #[must_use]
    pub fn held(held: HeldSubscription) -> Self {
        Self {
            subscription_id: held.stripe_subscription_id,
            tier_id: held.tier_id,
            tier: Some(held.plan),
            status: held.status,
            current_period_start: held.current_period_start,
            current_period_end: held.current_period_end,
            cancel_at_period_end: held.cancel_at_period_end,
            amount: Some(held.amount),
            currency: Some(held.currency),
            interval: Some(held.interval),
            change: None,
        }
    }
}

/// What became of a tier change: `applied` (paid, or nothing to pay), `pending_payment` (the
/// upgrade's invoice is unpaid: the old tier stays and the change is dropped at `expiresAt`),
/// or `at_period_end` (a downgrade: the paid tier stays until `effectiveAt`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeView {
    status: &'static str,
    tier_id: String,
    tier: String,
    effective_at: Option<i64>,
    expires_at: Option<i64>,
}

impl ChangeView {
    fn of(tier: &TierRow, when: PriceChange<'_>, after: &Subscription) -> Self {
        let (status, effective_at, expires_at) = match (when, &after.pending_update) {
            (_, Some(pending)) => ("pending_payment", None, Some(pending.expires_at * 1000)),
            (PriceChange::AtRenewal { until, .. }, None) => {
                ("at_period_end", Some(until * 1000), None)
            }
            _ => ("applied", None, None),
        };
        Self {
            status,
            tier_id: tier.id.clone(),
            tier: tier.name.clone(),
            effective_at,
            expires_at,
        }
    }
}

/// The write a subscription route's body asks for, checked against the route, with the
/// body's bytes (what its `Idempotency-Key` is bound to). The body is optional: an empty one
/// is a cancel at the period's end, or a resume.
///
/// # Errors
/// 400/413/415 for a body that cannot be read; 422 for one that does not fit the route.
pub async fn read_write(ctx: &mut Ctx, route: Route) -> Result<(Write, Vec<u8>), ApiError> {
    let bytes = crate::body::read(&mut ctx.req, crate::body::DEFAULT_LIMIT).await?;
    let input = if bytes.iter().all(u8::is_ascii_whitespace) {
        WriteInput::default()
    } else {
        crate::body::parse::<WriteInput>(&bytes)?
    };
    let write = input.validate(route).map_err(ApiError::Validation)?;
    Ok((write, bytes))
}

/// The end user's live subscription as we hold it.
///
/// # Errors
/// 404 `no_subscription`; storage failures.
pub async fn held(db: &D1Database, owner: Owner<'_>) -> Result<HeldSubscription, ApiError> {
    billing::held_by(db, owner.project_id, owner.customer_id)
        .await?
        .ok_or(ApiError::NoSubscription)
}

/// The tier a change asks for, among the project's tiers on sale, by name or id; `None` for
/// the other writes. Loaded before any claim, so a bad tier changes nothing.
///
/// # Errors
/// 422 on `tier` for an unknown tier or the free one (cancel instead).
pub async fn target(
    db: &D1Database,
    project_id: &str,
    write: &Write,
) -> Result<Option<TierRow>, ApiError> {
    let Write::Change { tier: wanted } = write else {
        return Ok(None);
    };
    let tier = catalog::tiers(db, project_id, Listed::Selling)
        .await?
        .into_iter()
        .find(|t| t.name == *wanted || t.id == *wanted)
        .ok_or_else(|| ApiError::field("tier", "no such tier on sale in this project"))?;
    if tier.is_default == 1 || tier.price == 0 {
        return Err(ApiError::field(
            "tier",
            "is the free tier: cancel the subscription instead",
        ));
    }
    Ok(Some(tier))
}

fn refusal(refusal: Refusal, mode: Mode) -> ApiError {
    match refusal {
        Refusal::NoSubscription => ApiError::NoSubscription,
        Refusal::NotCanceling => ApiError::SubscriptionNotCanceling,
        Refusal::NotConnected => ApiError::ConnectionRequired(mode),
        Refusal::ChangePending => ApiError::ChangePending,
        Refusal::AlreadySubscribed => ApiError::AlreadySubscribed,
        Refusal::TierRequired => ApiError::field("tier", "is required"),
    }
}

/// Stripe's answer in the answer's shape, its tier named by its price.
async fn provider_view(
    db: &D1Database,
    project_id: &str,
    live: Subscription,
) -> Result<View, ApiError> {
    let period = live.period();
    let price = live.items.data.into_iter().next().map(|item| item.price);
    let tier = match &price {
        Some(p) => billing::tier_by_price(db, project_id, &p.id).await?,
        None => None,
    };
    let (tier_id, tier) = tier.map_or((None, None), |t| (Some(t.id), Some(t.name)));
    Ok(View {
        subscription_id: live.id,
        tier_id,
        tier,
        status: live.status,
        current_period_start: period.map(|(start, _)| start * 1000),
        current_period_end: period.map(|(_, end)| end * 1000),
        cancel_at_period_end: live.cancel_at_period_end,
        amount: price.as_ref().and_then(|p| p.unit_amount),
        interval: price
            .as_ref()
            .and_then(|p| p.recurring.as_ref())
            .map(|r| r.interval.clone()),
        currency: price.map(|p| p.currency),
        change: None,
    })
}

/// Carries out `write`: reads the subscription from Stripe, plans it, asks Stripe, and
/// answers Stripe's state with the audit record of what was asked (the caller commits it,
/// with its idempotency record). Run it inside the idempotency claim, so a replay answers
/// what was done even once the subscription ended.
///
/// # Errors
/// The plan's refusals; 428 without a Stripe connection; Stripe and storage failures.
pub async fn execute(
    ctx: &Ctx,
    db: &D1Database,
    owner: Owner<'_>,
    write: &Write,
    target: Option<&TierRow>,
    actor: Actor<'_>,
) -> Result<(View, D1PreparedStatement), ApiError> {
    let held = held(db, owner).await?;
    let connection = connections::connected(db, owner.platform_id, owner.mode.as_str())
        .await?
        .ok_or(ApiError::ConnectionRequired(owner.mode))?;
    let client = StripeClient::from_env(&ctx.env, owner.mode)?;
    let account = connection.account_id.as_str();
    let subscription = held.stripe_subscription_id.as_str();
    let live = client
        .send(&calls::retrieve_subscription(Some(account), subscription))
        .await?;
    let item = live.items.data.first();
    let planned = rules::plan(
        write,
        Held {
            tier_id: held.tier_id.as_deref(),
            price_id: held.stripe_price_id.as_deref(),
        },
        Live {
            status: &live.status,
            cancel_at_period_end: live.cancel_at_period_end,
            item: item.map(|i| {
                (
                    i.id.as_str(),
                    i.price.id.as_str(),
                    i.price.unit_amount.unwrap_or(0),
                )
            }),
            period_end: live.period().map(|(_, end)| end),
        },
        target.map(|t| Target {
            tier_id: &t.id,
            price: t.price,
            stripe_price_id: t.stripe_price_id.as_deref(),
        }),
    )
    .map_err(|r| refusal(r, owner.mode))?;
    // The caller's Idempotency-Key reaches Stripe as the same operation on a retry; scoped
    // per project and end user, so two buyers who pick the same key are two operations.
    let key = ctx
        .header("Idempotency-Key")?
        .unwrap_or_else(|| new_id("op"));
    let route = write.route();
    let op = Operation::new([
        route.step(),
        owner.project_id,
        owner.customer_id,
        key.as_str(),
    ]);
    let when = match planned {
        Plan::Update(SubscriptionUpdate::Price { when, .. }) => Some(when),
        _ => None,
    };
    let after = match planned {
        Plan::AsItIs => live.clone(),
        Plan::CancelNow => {
            client
                .send(&calls::cancel_subscription(account, subscription, &op))
                .await?
        }
        Plan::Update(update) => {
            client
                .send(&calls::update_subscription(
                    account,
                    subscription,
                    &op,
                    &update,
                ))
                .await?
        }
    };
    let change = target
        .zip(when)
        .map(|(tier, when)| ChangeView::of(tier, when, &after));
    // What was asked of the provider is audited with the answer's record; the state it
    // leads to arrives, and is recorded, with the provider's webhook.
    let record = audit::event(
        ctx,
        db,
        actor,
        Change {
            project_id: Some(owner.project_id),
            action: route.audited(),
            target_type: "subscription",
            target_id: subscription,
        },
        &json!({
            "customerId": owner.customer_id,
            "immediately": write.immediately(),
            "tier": target.map(|t| t.name.as_str()),
            "status": after.status,
            "cancelAtPeriodEnd": after.cancel_at_period_end,
            "change": change.as_ref().map(|c| c.status),
        }),
    )?;
    let view = View {
        change,
        ..provider_view(db, owner.project_id, after).await?
    };
    Ok((view, record))
}
