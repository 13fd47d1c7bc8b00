//! Per-tenant caps with their values from the worker's variables (the rules live in
//! [`tollgate::limits`]).

use crate::ApiError;
use tollgate::limits::Cap;
use worker::Env;

/// Admits adding `adding` to the `held` count (or bytes) under `cap`, as configured.
///
/// # Errors
/// 422 `limit_exceeded` naming the cap.
pub fn check(env: &Env, cap: Cap, held: u64, adding: u64) -> Result<(), ApiError> {
    let raw = env.var(cap.variable()).ok().map(|v| v.to_string());
    cap.check(cap.max(raw.as_deref()), held, adding)
        .map_err(ApiError::LimitExceeded)
}
