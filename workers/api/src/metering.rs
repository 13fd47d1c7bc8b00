//! Metering: `POST /api/data` (dream-api's name) and `POST /api/usage/track` count a call
//! against the end user's allowance; `GET /api/usage` reads the current period.
//!
//! The plan is always resolved from Tollgate's records (subscription → tier; else the
//! assigned tier; else the project's default) — never from a header or a claim.

use crate::lanes::{self, Caller, EndUserRef};
use serde::Serialize;
use serde_json::json;
use tollgate::customer_api::TrackInput;
use tollgate::outbound::{Envelope, EventType, threshold_event_id, thresholds_crossed};
use tollgate::usage::{Limit, Period, Usage, parse_cost};
use tollgate_edge::db::usage::{self, Allowance};
use tollgate_edge::idempotent::{self, Claim};
use tollgate_edge::outbound as emit;
use tollgate_edge::{ApiError, Ctx, body, json, json_text, log};
use worker::Response;

/// The end user's allowance, plan, limit and current period.
struct Standing {
    allowance: Allowance,
    plan: String,
    limit: Limit,
    period: Period,
}

/// Judges a stored allowance at `now`: the token must be current and a tier must apply.
fn judge(allowance: Option<Allowance>, who: &EndUserRef, now: i64) -> Result<Standing, ApiError> {
    let allowance = allowance.ok_or(ApiError::UnknownEndUser)?;
    who.check_version(allowance.token_version)?;
    let plan = allowance
        .tier_name
        .clone()
        .ok_or(ApiError::PlanNotConfigured)?;
    let limit = Limit::from_column(allowance.usage_limit);
    // The same rule the metering statement applies in SQL.
    let period = match (allowance.period_start, allowance.period_end) {
        (Some(start), Some(end)) if end > start => Period::subscription(start, end, now),
        _ => Period::calendar_month(now),
    };
    Ok(Standing {
        allowance,
        plan,
        limit,
        period,
    })
}

pub(crate) async fn track(mut ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let who = lanes::end_user(&ctx, &caller).await?;
    let bytes = body::read(&mut ctx.req, 1024).await?;
    let input: TrackInput = body::parse(&bytes)?;
    let cost = parse_cost(input.cost).map_err(|reason| ApiError::field("cost", reason))?;
    // Keys are per end user: the same key for two end users are two different calls.
    let scope = format!("{}:{}", caller.auth.project_id, who.reference);
    idempotent::run(&ctx, &caller.db, &scope, &bytes, async |claim| {
        count(&ctx, &caller, &who, cost, claim).await
    })
    .await
}

async fn count(
    ctx: &Ctx,
    caller: &Caller,
    who: &EndUserRef,
    cost: u64,
    claim: Option<&Claim>,
) -> Result<Response, ApiError> {
    let project = &caller.auth.project_id;
    let calendar = Period::calendar_month(ctx.now_ms);
    let (counted, allowance) = usage::track_and_read(
        &caller.db,
        usage::MeteredCall {
            project_id: project,
            end_user: &who.reference,
            calendar,
            now: ctx.now_ms,
            cost,
            token_version: who.token_version,
            counted_mark: claim
                .map(|claim| idempotent::mark_counted(&caller.db, claim))
                .transpose()?,
        },
    )
    .await?;
    let standing = judge(allowance, who, ctx.now_ms)?;
    let limit_reached = |count| ApiError::UsageLimitReached {
        usage: Box::new(Usage::new(
            count,
            standing.limit,
            &standing.plan,
            standing.period,
        )),
        retry_after: standing.period.seconds_left(ctx.now_ms),
    };
    let count = match counted {
        // A check-only call (cost 0) is allowed while there is room for at least one unit.
        Some(count)
            if cost > 0 || i64::try_from(count).unwrap_or(i64::MAX) < standing.limit.ceiling() =>
        {
            count
        }
        Some(count) => return Err(limit_reached(count)),
        None => {
            return Err(limit_reached(
                usage::count(
                    &caller.db,
                    project,
                    &standing.allowance.end_user_id,
                    standing.period.start,
                )
                .await?,
            ));
        }
    };
    let usage = Usage::new(count, standing.limit, &standing.plan, standing.period);
    // Pure arithmetic on the count the upsert returned: a call that crosses nothing does no
    // storage work for webhooks.
    let crossed = thresholds_crossed(count.saturating_sub(cost), count, standing.limit);
    if !crossed.is_empty() {
        threshold_reached(ctx, caller, &standing, &usage, &crossed).await;
    }
    let body = serde_json::to_string(&json!({
        "allowed": true,
        "success": true,
        "data": { "message": "Usage recorded." },
        "usage": usage,
    }))?;
    if let Some(claim) = claim {
        // Recorded after the count, which marked the claim `counted` in its own batch: a crash
        // in between leaves the key answering 409 until it expires (its lease never applies)
        // and never counts twice.
        idempotent::record(ctx, &caller.db, claim, 200, &body, false)
            .await?
            .run()
            .await?;
    }
    json_text(200, body)
}

/// The `data` of `usage.threshold_reached`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Threshold<'a> {
    end_user_id: &'a str,
    threshold: u8,
    usage: &'a Usage,
}

/// Emits `usage.threshold_reached` for each threshold this call crossed. The event id derives
/// from the project, end user, period and threshold, so it fires once per period even if the
/// counter is crossed again (a plan change, a deleted and recreated counter). A failure is
/// logged, never turned into a refused call: the call was counted.
async fn threshold_reached(
    ctx: &Ctx,
    caller: &Caller,
    standing: &Standing,
    usage: &Usage,
    crossed: &[u8],
) {
    let project = &caller.auth.project_id;
    let end_user = &standing.allowance.end_user_id;
    for percent in crossed {
        let id = threshold_event_id(project, end_user, standing.period.start, *percent);
        let data = Threshold {
            end_user_id: end_user,
            threshold: *percent,
            usage,
        };
        let event = Envelope::new(
            &id,
            EventType::UsageThresholdReached,
            ctx.now_ms,
            project,
            caller.auth.mode.as_str(),
            &data,
        );
        if let Err(error) = emit::emit(&ctx.env, &caller.db, &ctx.request_id, &event).await {
            log::error(
                &ctx.request_id,
                "webhook_emit_failed",
                &format!("usage.threshold_reached {id}: {}", error.for_log()),
            );
        }
    }
}

pub(crate) async fn current(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let who = lanes::end_user(&ctx, &caller).await?;
    let allowance = usage::allowance(&caller.db, &caller.auth.project_id, &who.reference).await?;
    let standing = judge(allowance, &who, ctx.now_ms)?;
    let count = usage::count(
        &caller.db,
        &caller.auth.project_id,
        &standing.allowance.end_user_id,
        standing.period.start,
    )
    .await?;
    let usage = Usage::new(count, standing.limit, &standing.plan, standing.period);
    let mut body = serde_json::to_value(&usage)?;
    body["userId"] = json!(standing.allowance.end_user_id);
    json(200, &body)
}
