//! Metering: `POST /api/data` (dream-api's name) and `POST /api/usage/track` count a call
//! against the end user's allowance; `GET /api/usage` reads the current period. Both go to
//! the end user's metering object (`tollgate_edge::meter`), which counts exactly and holds
//! the `Idempotency-Key` records itself: when the key and the end user's id are in this
//! isolate's caches, a metered call makes no D1 round trip at all.
//!
//! The plan is always resolved from Tollgate's records (subscription → tier; else the
//! assigned tier; else the project's default) — never from a header or a claim.

use serde::Serialize;
use serde_json::json;
use std::cell::RefCell;
use tollgate::customer_api::TrackInput;
use tollgate::idempotency::{IdempotencyKey, fingerprint};
use tollgate::keycache::Lru;
use tollgate::meter::{Answer, Call, KeyedCall, Refusal, Standing};
use tollgate::outbound::{Envelope, EventType, threshold_event_id};
use tollgate::usage::{Usage, parse_cost};
use tollgate_edge::lanes::{self, Caller, EndUserRef};
use tollgate_edge::outbound as emit;
use tollgate_edge::{ApiError, Ctx, body, json, json_text, log};
use tollgate_edge::{db, meter};
use worker::Response;

thread_local! {
    /// `project` + reference (`cus_…` or external id) → the end user's id, which names their
    /// object. An id never changes; an external id moves only when its end user is deleted,
    /// and then their object answers `unknown_end_user` and the entry is read again.
    static END_USER_IDS: RefCell<Lru<String>> = RefCell::new(Lru::new(10_000));
}

/// The end user's id for `reference`, from this isolate's cache unless `fresh`; and whether
/// it came from the cache.
async fn end_user_id(
    caller: &Caller,
    reference: &str,
    fresh: bool,
) -> Result<(String, bool), ApiError> {
    let slot = format!("{}\n{reference}", caller.auth.project_id);
    if !fresh && let Some(id) = END_USER_IDS.with(|ids| ids.borrow_mut().get(&slot).cloned()) {
        return Ok((id, true));
    }
    let id = db::end_users::find(&caller.db, &caller.auth.project_id, reference)
        .await?
        .ok_or(ApiError::UnknownEndUser)?
        .id;
    END_USER_IDS.with(|ids| ids.borrow_mut().insert(slot, id.clone()));
    Ok((id, false))
}

/// Sends `call` to the end user's object; an `unknown_end_user` answer for a cached id
/// reads the id again once (the external id may name a new end user now). Gives the id the
/// answer is for.
async fn ask(
    ctx: &Ctx,
    caller: &Caller,
    who: &EndUserRef,
    mut call: Call,
) -> Result<(String, Answer), ApiError> {
    let (id, cached) = end_user_id(caller, &who.reference, false).await?;
    call.end_user_id.clone_from(&id);
    let answer = meter::track(&ctx.env, &call).await?;
    let unknown = matches!(
        answer,
        Answer::Refused {
            refusal: Refusal::UnknownEndUser
        }
    );
    if !(cached && unknown) {
        return Ok((id, answer));
    }
    let (fresh, _) = end_user_id(caller, &who.reference, true).await?;
    if fresh == id {
        return Ok((id, answer));
    }
    call.end_user_id.clone_from(&fresh);
    Ok((fresh, meter::track(&ctx.env, &call).await?))
}

pub(crate) async fn track(mut ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let who = lanes::end_user(&ctx, &caller).await?;
    let bytes = body::read(&mut ctx.req, 1024).await?;
    let input: TrackInput = body::parse(&bytes)?;
    let cost = parse_cost(input.cost).map_err(|reason| ApiError::field("cost", reason))?;
    // Keys are per end user (their object holds them): the same key for two end users are
    // two different calls.
    let key = match ctx.header("Idempotency-Key")? {
        Some(raw) => Some(KeyedCall {
            key: IdempotencyKey::parse(&raw)
                .ok_or(ApiError::InvalidIdempotencyKey)?
                .as_str()
                .to_owned(),
            print: fingerprint(ctx.req.inner().method().as_str(), &ctx.req.path(), &bytes),
        }),
        None => None,
    };
    let call = Call {
        project_id: caller.auth.project_id.clone(),
        end_user_id: String::new(),
        cost,
        token_version: who.token_version,
        key,
        read: false,
        now: ctx.now_ms,
    };
    let (end_user_id, answer) = ask(&ctx, &caller, &who, call).await?;
    let (standing, crossed, replayed) = match answer {
        Answer::Counted {
            standing,
            crossed,
            replayed,
        } => (standing, crossed, replayed),
        Answer::Refused { refusal } => return Err(meter::refused(refusal, ctx.now_ms)),
    };
    let usage = meter::usage_of(&standing);
    if !crossed.is_empty() {
        threshold_reached(&ctx, &caller, &end_user_id, &standing, &usage, &crossed).await;
    }
    let body = serde_json::to_string(&json!({
        "allowed": true,
        "success": true,
        "data": { "message": "Usage recorded." },
        "usage": usage,
    }))?;
    let response = json_text(200, body)?;
    if replayed {
        response.headers().set("Idempotent-Replayed", "true")?;
    }
    Ok(response)
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
    end_user: &str,
    standing: &Standing,
    usage: &Usage,
    crossed: &[u8],
) {
    let project = &caller.auth.project_id;
    for percent in crossed {
        let id = threshold_event_id(project, end_user, standing.period_start, *percent);
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
    let call = Call {
        project_id: caller.auth.project_id.clone(),
        end_user_id: String::new(),
        cost: 0,
        token_version: who.token_version,
        key: None,
        read: true,
        now: ctx.now_ms,
    };
    let (end_user_id, answer) = ask(&ctx, &caller, &who, call).await?;
    let standing = match answer {
        Answer::Counted { standing, .. } => standing,
        Answer::Refused { refusal } => return Err(meter::refused(refusal, ctx.now_ms)),
    };
    let mut body = serde_json::to_value(meter::usage_of(&standing))?;
    body["userId"] = json!(end_user_id);
    json(200, &body)
}
