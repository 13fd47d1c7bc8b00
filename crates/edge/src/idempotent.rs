//! The `Idempotency-Key` flow for writes that matter: claim the key, run the write with the
//! answer recorded in the same batch, replay the answer to retries.
//!
//! Same key + same request → the recorded answer again (a revealed secret only within 10
//! minutes, otherwise 409 `secret_already_shown`); same key + another request → 422; same
//! key while the first is running → 409. Answers that reveal a secret are stored sealed
//! (AES-GCM), never in the clear.

use crate::db::idempotency;
use crate::{ApiError, Ctx, crypto, secrets};
use tollgate::idempotency::{IdempotencyKey, RETENTION_MS, SECRET_REPLAY_MS, fingerprint};
use worker::{D1Database, D1PreparedStatement, Response};

/// A claimed key: the request owns it until it completes or releases it.
#[derive(Debug)]
pub struct Claim {
    scope: String,
    key: String,
}

/// What to do with a request that may carry an `Idempotency-Key`.
#[derive(Debug)]
pub enum Begun {
    /// Run the write (holding the claim, if a key was sent).
    Proceed(Option<Claim>),
    /// Answer with the recorded response.
    Replay(Response),
}

impl Claim {
    /// The claimed key, as the caller sent it (already checked well-formed).
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }
}

const SEALED: &str = "sealed:";

/// Claims the request's `Idempotency-Key` in `scope` (a platform or project id).
///
/// # Errors
/// 400 for a malformed key, 422 for a reused one, 409 while the first is in flight, and
/// 409 `secret_already_shown` for a replay past the reveal window.
pub async fn begin(
    ctx: &Ctx,
    db: &D1Database,
    scope: &str,
    body: &[u8],
) -> Result<Begun, ApiError> {
    let Some(raw) = ctx.header("Idempotency-Key")? else {
        return Ok(Begun::Proceed(None));
    };
    let key = IdempotencyKey::parse(&raw).ok_or(ApiError::InvalidIdempotencyKey)?;
    let print = fingerprint(ctx.req.inner().method().as_str(), &ctx.req.path(), body);
    let now = ctx.now_ms;
    if idempotency::claim(db, scope, key.as_str(), &print, now, now + RETENTION_MS).await? {
        return Ok(Begun::Proceed(Some(Claim {
            scope: scope.to_owned(),
            key: key.as_str().to_owned(),
        })));
    }
    let record = idempotency::get(db, scope, key.as_str())
        .await?
        .ok_or(ApiError::IdempotencyInFlight)?;
    if record.fingerprint != print {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let (Some(status), Some(stored)) = (record.response_status, record.response_body) else {
        return Err(ApiError::IdempotencyInFlight);
    };
    let body = match stored.strip_prefix(SEALED) {
        Some(sealed) => {
            if now - record.created_at > SECRET_REPLAY_MS {
                return Err(ApiError::SecretAlreadyShown);
            }
            let data_key = secrets::data_key(&ctx.env).await?;
            let row = format!("{scope}:{}", key.as_str());
            let plain = crypto::open(&data_key, sealed, replay_slot(&row))
                .await
                .map_err(|e| ApiError::internal(format!("replay: {}", e.0)))?;
            String::from_utf8(plain).map_err(|_| ApiError::internal("replay body is not UTF-8"))?
        }
        None => stored,
    };
    let status =
        u16::try_from(status).map_err(|_| ApiError::internal("stored status out of range"))?;
    let response = Response::from_bytes(body.into_bytes())?.with_status(status);
    response.headers().set("Content-Type", "application/json")?;
    response.headers().set("Idempotent-Replayed", "true")?;
    Ok(Begun::Replay(response))
}

/// Where a sealed replay lives: its idempotency record (scope and key).
const fn replay_slot(row: &str) -> crypto::Slot<'_> {
    crypto::Slot {
        table: "idempotency_keys",
        column: "response_body",
        row,
    }
}

/// The statement recording the answer, to run in the write's batch. `reveals_secret` seals it.
///
/// # Errors
/// When sealing fails.
pub async fn record(
    ctx: &Ctx,
    db: &D1Database,
    claim: &Claim,
    status: u16,
    body: &str,
    reveals_secret: bool,
) -> Result<D1PreparedStatement, ApiError> {
    let stored = if reveals_secret {
        let key = secrets::data_key(&ctx.env).await?;
        let row = format!("{}:{}", claim.scope, claim.key);
        let sealed = crypto::seal(&key, body.as_bytes(), replay_slot(&row))
            .await
            .map_err(|e| ApiError::internal(format!("seal: {}", e.0)))?;
        format!("{SEALED}{sealed}")
    } else {
        body.to_owned()
    };
    idempotency::complete(db, &claim.scope, &claim.key, status, &stored)
}

/// Runs `write` under the request's `Idempotency-Key` (if any): replays a recorded answer,
/// or runs the write holding the claim and releases the claim when the write fails, so a
/// retry can run.
///
/// # Errors
/// The errors of [`begin`] and of `write`.
pub async fn run<W>(
    ctx: &Ctx,
    db: &D1Database,
    scope: &str,
    body: &[u8],
    write: W,
) -> Result<Response, ApiError>
where
    W: AsyncFnOnce(Option<&Claim>) -> Result<Response, ApiError>,
{
    let claim = match begin(ctx, db, scope, body).await? {
        Begun::Replay(response) => return Ok(response),
        Begun::Proceed(claim) => claim,
    };
    let outcome = write(claim.as_ref()).await;
    if outcome.is_err() {
        release(db, claim.as_ref()).await?;
    }
    outcome
}

/// Releases the claim of a request that failed, so a retry can run.
///
/// # Errors
/// Storage failures.
pub async fn release(db: &D1Database, claim: Option<&Claim>) -> Result<(), ApiError> {
    match claim {
        Some(claim) => idempotency::release(db, &claim.scope, &claim.key).await,
        None => Ok(()),
    }
}

/// Forgets a claim whose answer was recorded in a batch that changed nothing (a guarded
/// write that lost a race), so a retry runs the write instead of replaying a false answer.
///
/// # Errors
/// Storage failures.
pub async fn forget(db: &D1Database, claim: Option<&Claim>) -> Result<(), ApiError> {
    match claim {
        Some(claim) => idempotency::forget(db, &claim.scope, &claim.key).await,
        None => Ok(()),
    }
}
