//! Subscription management for end users: read the plan, cancel or resume it, change its
//! tier. Every write is Stripe's subscription update on the connected account and answers
//! with Stripe's returned state; our row — and so the usage limit — changes only when the
//! provider's webhook is applied, so the provider stays the one source of truth.
//!
//! No access before money: an upgrade is invoiced at once and its higher limit applies only
//! once Stripe reports that invoice paid (an unpaid one leaves a `pending_update` and the old
//! tier); a downgrade keeps the tier already paid for until the period ends.

use crate::checkout::{finish, operation, seller};
use crate::lanes::{self, Caller, buyer};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate::Detail;
use tollgate::stripe::calls::{self, PriceChange, SubscriptionUpdate};
use tollgate::stripe::objects::Subscription;
use tollgate_edge::audit::{self, Actor, Change};
use tollgate_edge::db::billing::{self, HeldSubscription};
use tollgate_edge::db::catalog::{self, Listed};
use tollgate_edge::idempotent;
use tollgate_edge::keyauth::Lane;
use tollgate_edge::{ApiError, Ctx, body, json};
use worker::Response;

/// What a write asks of the subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Cancel,
    Resume,
    Change,
}

impl Action {
    const fn step(self) -> &'static str {
        match self {
            Self::Cancel => "subscription-cancel",
            Self::Resume => "subscription-resume",
            Self::Change => "subscription-change",
        }
    }

    /// The audit trail's name for what was asked of the provider.
    const fn audited(self) -> &'static str {
        match self {
            Self::Cancel => "subscription.cancel_requested",
            Self::Resume => "subscription.resume_requested",
            Self::Change => "subscription.change_requested",
        }
    }
}

/// A write's body: `{immediately}` for cancel, `{tier}` for change, nothing for resume.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WriteInput {
    immediately: Option<bool>,
    tier: Option<String>,
}

/// The answer's shape, whether read from our row or from Stripe.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View {
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

/// What became of a tier change: `applied` (paid, or nothing to pay), `pending_payment` (the
/// upgrade's invoice is unpaid: the old tier stays and the change is dropped at `expiresAt`),
/// or `at_period_end` (a downgrade: the paid tier stays until `effectiveAt`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeView {
    status: &'static str,
    tier_id: String,
    tier: String,
    effective_at: Option<i64>,
    expires_at: Option<i64>,
}

impl ChangeView {
    fn of(tier: &catalog::TierRow, when: PriceChange<'_>, after: &Subscription) -> Self {
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

/// The end user's live subscription as we hold it.
async fn held(caller: &Caller, buyer: &str) -> Result<HeldSubscription, ApiError> {
    billing::held_by(&caller.db, &caller.auth.project_id, buyer)
        .await?
        .ok_or(ApiError::NoSubscription)
}

/// `GET /api/subscription`: the plan as last applied from the provider.
pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let held = held(&caller, &buyer(&ctx, &caller).await?.id).await?;
    let view = View {
        subscription_id: held.stripe_subscription_id,
        tier_id: held.tier_id,
        tier: Some(held.plan),
        status: held.status,
        current_period_start: held.current_period_start,
        current_period_end: held.current_period_end,
        cancel_at_period_end: held.cancel_at_period_end == 1,
        amount: Some(held.amount),
        currency: Some(held.currency),
        interval: Some(held.interval),
        change: None,
    };
    json(200, &Detail { data: view })
}

/// Stripe's answer in the same shape, its tier named by its price.
async fn provider_view(caller: &Caller, live: Subscription) -> Result<View, ApiError> {
    let period = live.period();
    let price = live.items.data.into_iter().next().map(|item| item.price);
    let tier = match &price {
        Some(p) => billing::tier_by_price(&caller.db, &caller.auth.project_id, &p.id).await?,
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

/// `POST /api/subscription/{cancel,resume,change}`.
pub(crate) async fn write(mut ctx: Ctx, action: Action) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let buyer = buyer(&ctx, &caller).await?;
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let input = if bytes.iter().all(u8::is_ascii_whitespace) {
        WriteInput::default()
    } else {
        body::parse::<WriteInput>(&bytes)?
    };
    let immediately = input.immediately.unwrap_or(false);
    match action {
        Action::Cancel if input.tier.is_some() => {
            return Err(ApiError::field("tier", "is for a change, not a cancel"));
        }
        Action::Resume if input.tier.is_some() || input.immediately.is_some() => {
            return Err(ApiError::field("body", "resume takes no fields"));
        }
        Action::Change if input.immediately.is_some() => {
            return Err(ApiError::field(
                "immediately",
                "is for a cancel, not a change",
            ));
        }
        Action::Change if input.tier.is_none() => {
            return Err(ApiError::field("tier", "is required"));
        }
        _ => {}
    }
    let tier = input.tier;
    if immediately && caller.auth.lane != Lane::Secret {
        return Err(ApiError::Forbidden(
            "Only the secret key (a server) can end a subscription immediately.",
        ));
    }
    let target = match &tier {
        Some(wanted) => {
            let tiers =
                catalog::tiers(&caller.db, &caller.auth.project_id, Listed::Selling).await?;
            let tier = tiers
                .into_iter()
                .find(|t| t.name == *wanted || t.id == *wanted)
                .ok_or_else(|| ApiError::field("tier", "no such tier on sale in this project"))?;
            if tier.is_default == 1 || tier.price == 0 {
                return Err(ApiError::field(
                    "tier",
                    "is the free tier: cancel the subscription instead",
                ));
            }
            Some(tier)
        }
        None => None,
    };
    let scope = caller.key_space(action.step(), Some(&buyer.id));
    idempotent::run(&ctx, &caller.db, &scope, &bytes, async |claim| {
        // Inside the claim: a replay answers what was done even once the subscription ended.
        let held = held(&caller, &buyer.id).await?;
        let (client, account) = seller(&ctx, &caller).await?;
        let subscription = held.stripe_subscription_id.as_str();
        let live = client
            .send(&calls::retrieve_subscription(Some(&account), subscription))
            .await?;
        if live.status == "canceled" {
            return Err(match action {
                Action::Resume => ApiError::SubscriptionNotCanceling,
                _ => ApiError::NoSubscription,
            });
        }
        let op = operation(&ctx, &caller, action.step(), &buyer.id)?;
        let mut planned = None;
        let after = match (action, &target) {
            (Action::Cancel, _) if immediately => {
                client
                    .send(&calls::cancel_subscription(&account, subscription, &op))
                    .await?
            }
            // Already set to end: the same answer again.
            (Action::Cancel, _) if live.cancel_at_period_end => live,
            (Action::Cancel, _) => {
                let end = SubscriptionUpdate::CancelAtPeriodEnd(true);
                client
                    .send(&calls::update_subscription(
                        &account,
                        subscription,
                        &op,
                        &end,
                    ))
                    .await?
            }
            (Action::Resume, _) if !live.cancel_at_period_end => {
                return Err(ApiError::SubscriptionNotCanceling);
            }
            (Action::Resume, _) => {
                let keep = SubscriptionUpdate::CancelAtPeriodEnd(false);
                client
                    .send(&calls::update_subscription(
                        &account,
                        subscription,
                        &op,
                        &keep,
                    ))
                    .await?
            }
            (Action::Change, Some(tier)) => {
                let price = tier
                    .stripe_price_id
                    .as_deref()
                    .ok_or(ApiError::ConnectionRequired(caller.auth.mode))?;
                let item = live.items.data.first().ok_or(ApiError::NoSubscription)?;
                // Stripe bills another price than the one we applied: an accepted change
                // whose webhook has not been applied yet.
                if held.stripe_price_id.as_deref() != Some(item.price.id.as_str()) {
                    return Err(ApiError::ChangePending);
                }
                if item.price.id == price {
                    return Err(ApiError::AlreadySubscribed);
                }
                let when = if held.tier_id.as_deref() == Some(tier.id.as_str()) {
                    PriceChange::Revert
                } else if tier.price > item.price.unit_amount.unwrap_or(0) {
                    PriceChange::PaidFirst
                } else {
                    PriceChange::AtRenewal {
                        paid_tier: held.tier_id.as_deref().unwrap_or_default(),
                        until: live.period().map_or(0, |(_, end)| end),
                    }
                };
                planned = Some(when);
                let to = SubscriptionUpdate::Price {
                    item: &item.id,
                    price,
                    when,
                };
                client
                    .send(&calls::update_subscription(
                        &account,
                        subscription,
                        &op,
                        &to,
                    ))
                    .await?
            }
            (Action::Change, None) => return Err(ApiError::field("tier", "is required")),
        };
        let change = target
            .as_ref()
            .zip(planned)
            .map(|(tier, when)| ChangeView::of(tier, when, &after));
        // What was asked of the provider is audited with the answer's record; the state it
        // leads to arrives, and is recorded, with the provider's webhook.
        let actor = Actor {
            platform_id: &caller.auth.platform_id,
            subject: match caller.auth.lane {
                Lane::Secret => caller.auth.key_id.as_deref().unwrap_or("secret_key"),
                Lane::Publishable => buyer.id.as_str(),
            },
        };
        let record = audit::event(
            &ctx,
            &caller.db,
            actor,
            Change {
                project_id: Some(&caller.auth.project_id),
                action: action.audited(),
                target_type: "subscription",
                target_id: subscription,
            },
            &json!({
                "customerId": buyer.id,
                "immediately": immediately,
                "tier": target.as_ref().map(|t| t.name.as_str()),
                "status": after.status,
                "cancelAtPeriodEnd": after.cancel_at_period_end,
                "change": change.as_ref().map(|c| c.status),
            }),
        )?;
        let answer = Detail {
            data: View {
                change,
                ..provider_view(&caller, after).await?
            },
        };
        finish(&ctx, &caller, vec![record], claim, &answer).await
    })
    .await
}
