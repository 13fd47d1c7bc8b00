//! The metering objects as the other workers reach them (binding `METER`, class `Meter` in
//! the meter worker): count a call, read the current period, and — after any write that
//! changes an end user's allowance — tell their object to read it again before its next
//! count. Also the one mapping from an object's refusal to the contract's errors.

use crate::db;
use crate::{ApiError, log};
use tollgate::RequestId;
use tollgate::meter::{Answer, Call, Refusal, object_name};
use tollgate::usage::{Limit, Usage};
use worker::{D1Database, Env, Method, Request, RequestInit, Response, Stub};

/// The end user's metering object.
///
/// # Errors
/// A missing binding.
fn stub(env: &Env, project_id: &str, end_user_id: &str) -> Result<Stub, ApiError> {
    Ok(env
        .durable_object("METER")?
        .id_from_name(&object_name(project_id, end_user_id))?
        .get_stub()?)
}

/// Posts to one of the end user's object's routes (`track`, `forget`, and development's
/// `flush` and `fail-next-flush`), with an optional JSON body, and gives its answer.
///
/// # Errors
/// A missing binding, or the object unreachable.
pub async fn post(
    env: &Env,
    project_id: &str,
    end_user_id: &str,
    route: &str,
    body: Option<String>,
) -> Result<Response, ApiError> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(body.map(Into::into));
    let request = Request::new_with_init(&format!("https://meter/{route}"), &init)?;
    Ok(stub(env, project_id, end_user_id)?
        .fetch_with_request(request)
        .await?)
}

/// Counts `call` in its end user's object (or, for a read, asks where they stand: exact,
/// never the ledger's lag).
///
/// # Errors
/// When the object cannot be reached (its refusals are answers, not errors).
pub async fn track(env: &Env, call: &Call) -> Result<Answer, ApiError> {
    let body = serde_json::to_string(call)?;
    let mut reply = post(
        env,
        &call.project_id,
        &call.end_user_id,
        "track",
        Some(body),
    )
    .await?;
    if reply.status_code() != 200 {
        return Err(ApiError::internal(format!(
            "meter object answered {} to track",
            reply.status_code()
        )));
    }
    Ok(reply.json().await?)
}

/// Tells each end user's object that their allowance changed (a subscription, plan, tier,
/// token version or deletion): its next call reads the records again. Run it after the write
/// committed and before answering, so the first call after an upgrade uses the new limit.
/// A failure is logged, never turned into a failed write: the write stands, and an object
/// reads the records again whenever it wakes, and within `ALLOWANCE_MS` in any case.
pub async fn forget(env: &Env, request_id: &RequestId, project_id: &str, end_user_ids: &[String]) {
    // A few at a time: a tier edit tells up to `FORGET_AT_ONCE` end users.
    for chunk in end_user_ids.chunks(16) {
        futures_util::future::join_all(
            chunk
                .iter()
                .map(|end_user_id| told(env, request_id, project_id, end_user_id)),
        )
        .await;
    }
}

/// Tells one object; a failure is logged.
async fn told(env: &Env, request_id: &RequestId, project_id: &str, end_user_id: &str) {
    let sent = post(env, project_id, end_user_id, "forget", None).await;
    match sent.map(|reply| reply.status_code()) {
        Ok(204) => {}
        Ok(status) => log::error(
            request_id,
            "meter_forget_failed",
            &format!("{end_user_id}: {status}"),
        ),
        Err(error) => log::error(
            request_id,
            "meter_forget_failed",
            &format!("{end_user_id}: {}", error.for_log()),
        ),
    }
}

/// [`forget`] for one end user.
pub async fn forget_one(env: &Env, request_id: &RequestId, project_id: &str, end_user_id: &str) {
    told(env, request_id, project_id, end_user_id).await;
}

/// [`forget`] for a project's end users (a tier was edited or archived, or the default tier
/// changed: anyone's allowance may come from it): the [`tollgate::meter::FORGET_AT_ONCE`]
/// most recently metered at once; the others' objects read it within the allowance bound.
///
/// # Errors
/// When the end users cannot be listed.
pub async fn forget_project(
    env: &Env,
    db: &D1Database,
    request_id: &RequestId,
    project_id: &str,
) -> Result<(), ApiError> {
    // `METER_FORGET_AT_ONCE` may lower it: for a plan that allows fewer subrequests per
    // request, and for the test that reaches past it.
    let at_once = env
        .var("METER_FORGET_AT_ONCE")
        .ok()
        .and_then(|v| v.to_string().parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(tollgate::meter::FORGET_AT_ONCE);
    let ids = db::end_users::recently_metered_ids(db, project_id, at_once).await?;
    forget(env, request_id, project_id, &ids).await;
    Ok(())
}

/// The contract's error for a refused call (`now` sets `Retry-After` at the limit).
#[must_use]
pub fn refused(refusal: Refusal, now: i64) -> ApiError {
    match refusal {
        Refusal::UnknownEndUser => ApiError::UnknownEndUser,
        Refusal::TokenRevoked => ApiError::InvalidEndUserToken("The end-user token was revoked."),
        Refusal::PlanNotConfigured => ApiError::PlanNotConfigured,
        Refusal::KeyReused => ApiError::IdempotencyKeyReused,
        Refusal::LimitReached { standing } => ApiError::UsageLimitReached {
            retry_after: standing.period().seconds_left(now),
            usage: Box::new(usage_of(&standing)),
        },
    }
}

/// The contract's usage object for where an end user stands.
#[must_use]
pub fn usage_of(standing: &tollgate::meter::Standing) -> Usage {
    Usage::new(
        standing.count,
        Limit::from_column(standing.limit),
        &standing.plan,
        standing.period(),
    )
}
