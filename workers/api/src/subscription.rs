//! Subscription management for end users: read the plan, cancel or resume it, change its
//! tier. Every write is Stripe's subscription update on the connected account and answers
//! with Stripe's returned state; our row — and so the usage limit — changes only when the
//! provider's webhook is applied, so the provider stays the one source of truth.

use crate::checkout::{buyer, finish, operation, seller};
use crate::lanes::{self, Caller};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate::Detail;
use tollgate::stripe::calls::{self, SubscriptionUpdate};
use tollgate::stripe::objects::Subscription;
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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelInput {
    #[serde(default)]
    immediately: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResumeInput {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeInput {
    tier: String,
}

/// The end user's live subscription as we hold it.
async fn held(ctx: &Ctx, caller: &Caller) -> Result<(String, HeldSubscription), ApiError> {
    let buyer = buyer(ctx, caller).await?;
    let held = billing::held_by(&caller.db, &caller.auth.project_id, &buyer.id)
        .await?
        .ok_or(ApiError::NoSubscription)?;
    Ok((buyer.id, held))
}

/// `GET /api/subscription`: the plan as last applied from the provider.
pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let (_, held) = held(&ctx, &caller).await?;
    json(
        200,
        &Detail {
            data: json!({
                "subscriptionId": held.stripe_subscription_id,
                "tierId": held.tier_id,
                "tier": held.plan,
                "status": held.status,
                "currentPeriodStart": held.current_period_start,
                "currentPeriodEnd": held.current_period_end,
                "cancelAtPeriodEnd": held.cancel_at_period_end == 1,
                "amount": held.amount,
                "currency": held.currency,
                "interval": held.interval,
            }),
        },
    )
}

/// Stripe's answer in the same shape, its tier named by its price.
async fn provider_view(caller: &Caller, live: &Subscription) -> Result<Value, ApiError> {
    let price = live.items.data.first().map(|item| &item.price);
    let tier = match price {
        Some(p) => billing::tier_by_price(&caller.db, &caller.auth.project_id, &p.id).await?,
        None => None,
    };
    let period = live.period();
    Ok(json!({
        "subscriptionId": live.id,
        "tierId": tier.as_ref().map(|t| t.id.clone()),
        "tier": tier.map(|t| t.name),
        "status": live.status,
        "currentPeriodStart": period.map(|(start, _)| start * 1000),
        "currentPeriodEnd": period.map(|(_, end)| end * 1000),
        "cancelAtPeriodEnd": live.cancel_at_period_end,
        "amount": price.and_then(|p| p.unit_amount),
        "currency": price.map(|p| p.currency.clone()),
        "interval": price.and_then(|p| p.recurring.as_ref()).map(|r| r.interval.clone()),
    }))
}

/// `POST /api/subscription/{cancel,resume,change}`.
pub(crate) async fn write(mut ctx: Ctx, action: Action) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let (_, held) = held(&ctx, &caller).await?;
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let empty = bytes.iter().all(u8::is_ascii_whitespace);
    let (immediately, tier) = match action {
        Action::Cancel if empty => (false, None),
        Action::Cancel => (body::parse::<CancelInput>(&bytes)?.immediately, None),
        Action::Resume => {
            if !empty {
                body::parse::<ResumeInput>(&bytes)?;
            }
            (false, None)
        }
        Action::Change => (false, Some(body::parse::<ChangeInput>(&bytes)?.tier)),
    };
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
    // One key space per action, so a key reused across actions never replays another's answer.
    let scope = format!("{}:{}", caller.auth.project_id, action.step());
    idempotent::run(&ctx, &caller.db, &scope, &bytes, async |claim| {
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
        let op = operation(&ctx, &caller, action.step())?;
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
                let to = SubscriptionUpdate::Price {
                    item: &item.id,
                    price,
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
        let answer = json!({ "data": provider_view(&caller, &after).await? });
        finish(&ctx, &caller, Vec::new(), claim, &answer).await
    })
    .await
}
