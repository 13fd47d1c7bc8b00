//! One Stripe API call, start to finish:
//!
//! 1. authenticate the secret key and the `Stripe-Account` it acts for;
//! 2. answer an injected fault instead, if one matches;
//! 3. decode the parameters;
//! 4. for a POST with `Idempotency-Key`, replay a recorded answer or refuse a reuse;
//! 5. run the operation, which returns its answer, its writes and its events unexecuted;
//! 6. commit the writes, the events and the idempotency record as one batch;
//! 7. deliver the events to their endpoints (awaited, never failing the call), then answer.

use crate::delivery::{self, DEFAULT_ENDPOINT, Target};
use crate::http::{self, Fail};
use crate::model::error::StripeError;
use crate::model::events::{self, Draft, Listener, Origin};
use crate::model::keys::{self, PLATFORM_ACCOUNT, SecretKey};
use crate::model::params::Params;
use crate::model::{Stamp, webhooks};
use crate::store::{Scope, Store};
use serde_json::Value;
use tollgate::ids::new_id;
use tollgate_edge::{ApiError, Ctx};
use worker::{D1PreparedStatement, Env, Response};

/// Idempotency keys are kept 24 hours.
const KEY_RETENTION_MS: i64 = 24 * 3600 * 1000;
/// Stripe's longest idempotency key.
const KEY_MAX_CHARS: usize = 255;

/// What an operation needs: who calls, in which scope, when, and the storage.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) env: Env,
    pub(crate) store: Store,
    pub(crate) scope: Scope,
    pub(crate) stamp: Stamp,
    pub(crate) now_ms: i64,
    /// The sandbox's own origin, for the URLs it hands out.
    pub(crate) origin: String,
    pub(crate) cause: Cause,
    path: tollgate::Params,
}

impl Call {
    /// The path parameter `name` (the routes guarantee it).
    pub(crate) fn path(&self, name: &str) -> &str {
        self.path.get(name).unwrap_or_default()
    }

    /// An event in this call's scope.
    pub(crate) fn event(&self, draft: Draft) -> (Scope, Draft) {
        (self.scope.clone(), draft)
    }
}

/// What caused events: an API request (its id and idempotency key), or nothing the caller
/// sent (a payment on a hosted page, a renewal).
#[derive(Clone, Debug, Default)]
pub(crate) struct Cause {
    pub(crate) request_id: Option<String>,
    pub(crate) idempotency_key: Option<String>,
}

/// An operation's result, not yet committed.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) writes: Vec<D1PreparedStatement>,
    pub(crate) events: Vec<(Scope, Draft)>,
}

impl Outcome {
    /// A 200 answer with nothing to write.
    pub(crate) fn read(body: Value) -> Self {
        Self {
            status: 200,
            body,
            writes: Vec::new(),
            events: Vec::new(),
        }
    }

    /// A 200 answer with writes and events.
    pub(crate) fn write(
        body: Value,
        writes: Vec<D1PreparedStatement>,
        events: Vec<(Scope, Draft)>,
    ) -> Self {
        Self {
            status: 200,
            body,
            writes,
            events,
        }
    }
}

/// Step 1: the scope the presented key acts in.
async fn authenticate(ctx: &Ctx, store: &Store) -> Result<Scope, Fail> {
    let presented = keys::presented(ctx.header("Authorization")?.as_deref())
        .ok_or_else(StripeError::missing_key)?;
    let key = SecretKey::parse(&presented)
        .ok_or_else(|| StripeError::invalid_key(&keys::mask(&presented)))?;
    let masked = keys::mask(key.as_str());
    let requested = ctx
        .header("Stripe-Account")?
        .filter(|a| !a.trim().is_empty());
    // An access token from Connect OAuth acts as its connected account.
    if let Some(connection) = store.connection_by_token(key.as_str()).await? {
        if connection.deauthorized_at.is_some() {
            return Err(StripeError::invalid_key(&masked).into());
        }
        if requested
            .as_deref()
            .is_some_and(|a| a != connection.account)
        {
            let account = requested.unwrap_or_default();
            return Err(StripeError::account_invalid(&masked, &account).into());
        }
        let scope = Scope {
            account: connection.account,
            livemode: connection.livemode == 1,
        };
        return Ok(scope);
    }
    let scope = match requested {
        None => Scope::platform(key.livemode()),
        Some(account) if account == PLATFORM_ACCOUNT => Scope::platform(key.livemode()),
        Some(account) => {
            let connected = keys::is_account_id(&account)
                && store
                    .connection(&account, key.livemode())
                    .await?
                    .is_some_and(|c| c.deauthorized_at.is_none());
            if !connected {
                return Err(StripeError::account_invalid(&masked, &account).into());
            }
            Scope {
                account,
                livemode: key.livemode(),
            }
        }
    };
    Ok(scope)
}

/// Step 2: an injected fault armed for this call's path (and method) answers instead of it.
pub(crate) async fn injected_fault(ctx: &Ctx, store: &Store) -> Result<(), Fail> {
    match store
        .take_fault(&ctx.req.inner().method(), &ctx.req.path())
        .await?
    {
        None => Ok(()),
        Some(fault) => {
            let status = u16::try_from(fault.status).unwrap_or(500);
            Err(
                StripeError::injected(status, fault.code.as_deref(), fault.message.as_deref())
                    .into(),
            )
        }
    }
}

/// A held idempotency key.
struct Claim {
    key: String,
}

/// Step 4: replays a recorded answer (`Err(Ok(response))`), refuses a reuse, or claims the
/// key for this request.
async fn claim(
    ctx: &Ctx,
    store: &Store,
    scope: &Scope,
    params: &serde_json::Map<String, Value>,
) -> Result<Result<Option<Claim>, Response>, Fail> {
    let method = ctx.req.inner().method();
    let Some(key) = ctx.header("Idempotency-Key")?.filter(|_| method == "POST") else {
        return Ok(Ok(None));
    };
    if key.is_empty() || key.chars().count() > KEY_MAX_CHARS {
        return Err(StripeError::invalid(format!(
            "Idempotency-Key must be 1 to {KEY_MAX_CHARS} characters long."
        ))
        .into());
    }
    let print = crate::model::fingerprint(&method, &ctx.req.path(), params);
    if store
        .claim_key(
            scope,
            &key,
            &print,
            ctx.request_id.as_str(),
            ctx.now_ms,
            ctx.now_ms + KEY_RETENTION_MS,
        )
        .await?
    {
        return Ok(Ok(Some(Claim { key })));
    }
    let Some(record) = store.key_record(scope, &key).await? else {
        return Err(StripeError::idempotency_in_flight(&key).into());
    };
    if record.fingerprint != print {
        return Err(StripeError::idempotency_mismatch(&key).into());
    }
    match (
        record.status.as_str(),
        record.response_status,
        record.response_body,
    ) {
        ("completed", Some(status), Some(body)) => {
            let status = u16::try_from(status)
                .map_err(|_| Fail::Internal("stored status out of range".into()))?;
            let response = http::stripe_text(status, body, &ctx.request_id)?;
            response.headers().set("Idempotent-Replayed", "true")?;
            response
                .headers()
                .set("Original-Request", &record.request_id)?;
            Ok(Err(response))
        }
        _ => Err(StripeError::idempotency_in_flight(&key).into()),
    }
}

/// Runs API operation `op` for the request in `ctx`.
pub(crate) async fn serve(op: crate::Op, mut ctx: Ctx) -> Result<Response, ApiError> {
    let request_id = ctx.request_id.clone();
    let outcome = run(op, &mut ctx).await;
    http::answer(&request_id, outcome)
}

async fn run(op: crate::Op, ctx: &mut Ctx) -> Result<Response, Fail> {
    if op == crate::Op::Unrecognized {
        return Err(
            StripeError::unrecognized_url(&ctx.req.inner().method(), &ctx.req.path()).into(),
        );
    }
    let store = Store::open(&ctx.env)?;
    // (1)
    let scope = authenticate(ctx, &store).await?;
    // (2)
    if !op.is_control() {
        injected_fault(ctx, &store).await?;
    }
    // (3)
    let decoded = http::params(ctx).await?;
    // (4)
    let held = match claim(ctx, &store, &scope, &decoded).await? {
        Ok(held) => held,
        Err(replay) => return Ok(replay),
    };
    let stamp = Stamp {
        now: ctx.now_ms.div_euclid(1000),
        livemode: scope.livemode,
    };
    let call = Call {
        env: ctx.env.clone(),
        store,
        scope,
        stamp,
        now_ms: ctx.now_ms,
        origin: http::origin(ctx),
        // The controls stand in for things no API request causes (a buyer paying, a renewal),
        // so their events name no request, as Stripe's automatic events do.
        cause: if op.is_control() {
            Cause::default()
        } else {
            Cause {
                request_id: Some(ctx.request_id.as_str().to_owned()),
                idempotency_key: held.as_ref().map(|c| c.key.clone()),
            }
        },
        path: ctx.params.clone(),
    };
    // (5)
    let outcome = match crate::dispatch(op, &call, Params::new(decoded)).await {
        Ok(outcome) => outcome,
        Err(fail) => {
            if let Some(held) = &held {
                call.store.release_key(&call.scope, &held.key).await?;
            }
            return Err(fail);
        }
    };
    // (6) and (7)
    let body = serde_json::to_string(&outcome.body)?;
    let mut writes = outcome.writes;
    if let Some(held) = &held {
        writes.push(
            call.store
                .complete_key(&call.scope, &held.key, outcome.status, &body)?,
        );
    }
    publish(
        &ctx.env,
        &call.store,
        writes,
        outcome.events,
        &call.cause,
        call.now_ms,
    )
    .await?;
    http::stripe_text(outcome.status, body, &ctx.request_id)
}

/// The endpoints that may receive events in a mode: the accounts' own and the one configured
/// by `SANDBOX_WEBHOOK_URL`, which stands for two Stripe endpoints at one URL, as a platform
/// registers them: test events signed with `STRIPE_WEBHOOK_SECRET`, live events with
/// `STRIPE_WEBHOOK_SECRET_LIVE` (none without it). Stripe's endpoints each belong to one mode.
async fn targets(env: &Env, store: &Store, livemode: bool) -> Result<Vec<Target>, Fail> {
    let mut out = Vec::new();
    let configured = env.var("SANDBOX_WEBHOOK_URL").ok().map(|v| v.to_string());
    let name = if livemode {
        "STRIPE_WEBHOOK_SECRET_LIVE"
    } else {
        "STRIPE_WEBHOOK_SECRET"
    };
    let secret = env.secret(name).ok().map(|v| v.to_string());
    if let (Some(url), Some(secret)) = (configured, secret)
        && !url.is_empty()
        && !secret.is_empty()
    {
        out.push(Target {
            endpoint_id: DEFAULT_ENDPOINT.to_owned(),
            url,
            secret,
            listener: Listener {
                owner: None,
                livemode,
                connect: true,
                enabled_events: vec!["*".to_owned()],
            },
        });
    }
    for row in store.endpoints(livemode).await? {
        let body: Value = serde_json::from_str(&row.body)?;
        out.push(Target {
            endpoint_id: crate::model::text(&body, "id")
                .unwrap_or_default()
                .to_owned(),
            url: webhooks::url(&body).to_owned(),
            secret: row.secret,
            listener: Listener {
                owner: Some(row.account),
                livemode: row.livemode == 1,
                connect: row.connect == 1,
                enabled_events: webhooks::enabled_events(&body),
            },
        });
    }
    Ok(out)
}

/// The endpoints that receive an event of `kind` in `scope`.
pub(crate) fn receivers(all: &[Target], kind: &str, scope: &Scope) -> Vec<Target> {
    all.iter()
        .filter(|t| {
            events::receives(
                &t.listener,
                kind,
                scope.connected(),
                scope.livemode,
                PLATFORM_ACCOUNT,
            )
        })
        .cloned()
        .collect()
}

/// Commits a change now, with its events (for a change that must stand even though the call
/// then fails).
pub(crate) async fn publish_change(
    call: &Call,
    change: crate::checkout::Change,
) -> Result<(), Fail> {
    publish(
        &call.env,
        &call.store,
        change.writes,
        change.events,
        &call.cause,
        call.now_ms,
    )
    .await
}

/// Commits `writes` with the events made from `drafts` as one batch, then delivers each
/// event, in order, to the endpoints that receive it, and records the attempts.
pub(crate) async fn publish(
    env: &Env,
    store: &Store,
    mut writes: Vec<D1PreparedStatement>,
    drafts: Vec<(Scope, Draft)>,
    cause: &Cause,
    now_ms: i64,
) -> Result<(), Fail> {
    if drafts.is_empty() {
        return store.commit(writes).await;
    }
    let mut live = None;
    let mut test = None;
    let mut pending = Vec::with_capacity(drafts.len());
    for (scope, draft) in drafts {
        let slot = if scope.livemode { &mut live } else { &mut test };
        if slot.is_none() {
            *slot = Some(targets(env, store, scope.livemode).await?);
        }
        let to = receivers(slot.as_deref().unwrap_or_default(), draft.kind, &scope);
        let origin = Origin {
            account: scope.connected(),
            livemode: scope.livemode,
            request_id: cause.request_id.as_deref(),
            idempotency_key: cause.idempotency_key.as_deref(),
        };
        let event = events::event(
            &new_id("evt"),
            draft,
            &origin,
            now_ms.div_euclid(1000),
            to.len(),
        );
        writes.push(store.insert(&scope, "event", &event, now_ms)?);
        pending.push((scope, event, to));
    }
    store.commit(writes).await?;
    let mut records = Vec::new();
    for (scope, event, to) in pending {
        // A fault armed on `/_delivery/{type}` holds the event back: every endpoint's attempt
        // is recorded as failed with the fault's status, and a replay delivers it later.
        let kind = crate::model::text(&event, "type").unwrap_or_default();
        if let Some(fault) = store
            .take_fault("POST", &format!("/_delivery/{kind}"))
            .await?
        {
            let id = crate::model::text(&event, "id").unwrap_or_default();
            for target in &to {
                records.push(store.record_delivery(&crate::store::DeliveryRow {
                    event_id: id.to_owned(),
                    endpoint_id: target.endpoint_id.clone(),
                    url: target.url.clone(),
                    attempted_at: now_ms,
                    status: Some(fault.status),
                    error: Some("held back by an injected delivery fault".to_owned()),
                    duration_ms: 0,
                })?);
            }
            continue;
        }
        let (outcome, rows) = send(&event, &to).await?;
        for row in &rows {
            records.push(store.record_delivery(row)?);
        }
        if let Some(updated) = outcome {
            records.push(store.replace(&scope, &updated)?);
        }
    }
    store.commit(records).await
}

/// Delivers one stored event to `to`; answers the event with `pending_webhooks` lowered to
/// the failed deliveries (when it changed) and the attempts.
pub(crate) async fn send(
    event: &Value,
    to: &[Target],
) -> Result<(Option<Value>, Vec<crate::store::DeliveryRow>), Fail> {
    let payload = serde_json::to_string(event)?;
    let id = crate::model::text(event, "id").unwrap_or_default();
    let mut rows = Vec::with_capacity(to.len());
    for target in to {
        rows.push(delivery::deliver(target, id, &payload).await);
    }
    let failed = rows.iter().filter(|r| !delivery::succeeded(r)).count();
    let changed = crate::model::int(event, "pending_webhooks") != i64::try_from(failed).ok();
    let updated = changed.then(|| {
        let mut out = event.clone();
        crate::model::set(&mut out, "pending_webhooks", Value::from(failed));
        out
    });
    Ok((updated, rows))
}

/// The endpoints that would receive `event` now (for replays).
pub(crate) async fn receivers_of(
    env: &Env,
    store: &Store,
    scope: &Scope,
    event: &Value,
) -> Result<Vec<Target>, Fail> {
    let kind = crate::model::text(event, "type").unwrap_or_default();
    let all = targets(env, store, scope.livemode).await?;
    Ok(receivers(&all, kind, scope))
}
