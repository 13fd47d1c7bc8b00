//! Delivering outbound webhooks: the queue consumer (one attempt per message) and the sweep.
//!
//! An attempt claims the delivery's next attempt number (so a duplicate message cannot send
//! twice), signs the stored body per Standard Webhooks, POSTs it with a 10 s timeout and no
//! redirects, and records the outcome: `lastError` holds a fixed category (`timeout`,
//! `connection_refused`, `dns`, `tls`, `network`, `http_<status>`, …), the runtime's message
//! only the log. In production a host that cannot be reached is answered by Cloudflare's edge
//! (530/1016, 521, 522, 525…), which `edge_failure` reads as its category; the local stack
//! answers the same way (scripts/stack.mjs), where workerd would throw an opaque error. The URL rules are applied again first, so an endpoint saved under older
//! rules never reaches loopback outside development. A failure is retried by acknowledging the message and
//! sending a new one with the backoff delay: Queues' own retries are bounded by
//! `max_retries`, ours only by the delivery's 24 h window. A message is only retried by
//! Queues when the attempt could not even be recorded.

use futures_util::future::{Either, select};
use std::pin::pin;
use std::time::Duration;
use tollgate::outbound::{
    ATTEMPT_TIMEOUT_SECONDS, AfterFailure, DeliveryMessage, DeliveryStatus, EndpointStatus, Reach,
    after_failure, check_url, edge_failure, http_failure, network_failure, retry_base, secret_key,
    signature_header,
};
use tollgate::{Mode, RequestId};
use tollgate_edge::db::{self, deliveries};
use tollgate_edge::outbound;
use tollgate_edge::{ApiError, Config, Environment, crypto, log, now_ms, secrets};
use worker::{
    Delay, Env, Fetch, Headers, Message, MessageBatch, MessageExt, Method, Request, RequestInit,
    RequestRedirect,
};

/// How long a claimed attempt keeps the sweep away (the attempt itself takes ≤ 10 s).
const LEASE_MS: i64 = 60_000;
/// The sweep re-queues pending deliveries overdue by more than this.
const SWEEP_GRACE_MS: i64 = 5 * 60_000;
/// At most this many deliveries per sweep; the next sweep takes the rest.
const SWEEP_LIMIT: i64 = 500;
/// What one attempt came to.
enum Outcome {
    /// The receiver answered 2xx.
    Delivered(u16),
    /// It answered something else, or nothing (`None`), under the category given.
    Failed(Option<u16>, String),
}

/// Runs one attempt per message. A message is acknowledged once its attempt is recorded
/// (delivered, failed for good, or its retry queued); a storage failure leaves it to Queues'
/// retry.
pub(crate) async fn consume(batch: MessageBatch<DeliveryMessage>, env: Env) {
    let request_id = RequestId::generate();
    let mut messages = Vec::new();
    for message in batch.iter() {
        match message {
            Ok(message) => messages.push(message),
            // Nothing we sent: acknowledged implicitly, since no attempt could ever succeed.
            Err(error) => log::error(
                &request_id,
                "webhook_message_unreadable",
                &error.to_string(),
            ),
        }
    }
    // One at a time: each attempt is bounded by its 10 s timeout, and throughput comes from
    // Queues running several consumer invocations at once.
    for message in &messages {
        handle(&env, &request_id, message).await;
    }
}

async fn handle(env: &Env, request_id: &RequestId, message: &Message<DeliveryMessage>) {
    match attempt(env, message.body()).await {
        Ok(()) => message.ack(),
        Err(error) => {
            log::error(
                request_id,
                "webhook_attempt_unrecorded",
                &format!("{}: {}", message.body().delivery_id, error.for_log()),
            );
            message.retry();
        }
    }
}

async fn attempt(env: &Env, message: &DeliveryMessage) -> Result<(), ApiError> {
    let db = db::database(env)?;
    let now = now_ms();
    let Some(delivery) = deliveries::attempt(&db, &message.delivery_id).await? else {
        return Ok(());
    };
    // A message behind the row is a duplicate: another one made (or is making) this attempt.
    if delivery.status != DeliveryStatus::Pending || delivery.attempts != message.attempt {
        return Ok(());
    }
    if delivery.endpoint_deleted_at.is_some() || delivery.endpoint_status != EndpointStatus::Enabled
    {
        return deliveries::fail(&db, &delivery.id, None, "endpoint_disabled", now).await;
    }
    if !deliveries::claim(&db, &delivery.id, delivery.attempts, now + LEASE_MS, now).await? {
        return Ok(());
    }
    let attempts = delivery.attempts + 1;
    // A delivery Tollgate cannot sign (a secret it cannot open) is a failed attempt like
    // any other, so it still ends when its window does.
    let outcome = match send(env, &delivery, now).await {
        Ok(outcome) => outcome,
        Err(error) => {
            log::error(
                &RequestId::generate(),
                "webhook_sign_failed",
                &format!("{}: {}", delivery.id, error.for_log()),
            );
            Outcome::Failed(None, "signing_failed".to_owned())
        }
    };
    let done = now_ms();
    let (code, error) = match outcome {
        Outcome::Delivered(code) => {
            return deliveries::delivered(&db, &delivery.id, code.into(), done).await;
        }
        Outcome::Failed(code, error) => (code.map(i64::from), error),
    };
    let base = retry_base(
        env.var("WEBHOOK_RETRY_BASE_SECONDS")
            .ok()
            .map(|v| v.to_string())
            .as_deref(),
    );
    let failed = u32::try_from(attempts).unwrap_or(u32::MAX);
    match after_failure(done, failed, base, delivery.deadline_at) {
        AfterFailure::GiveUp => deliveries::fail(&db, &delivery.id, code, &error, done).await,
        AfterFailure::Retry { at, delay_seconds } => {
            if deliveries::retry_later(&db, &delivery.id, attempts, code, &error, at, done).await? {
                let next = DeliveryMessage {
                    delivery_id: delivery.id.clone(),
                    attempt: attempts,
                };
                // A lost send is recovered by the sweep: the row says when it was due.
                if let Err(error) = outbound::send(env, &[(next, delay_seconds)]).await {
                    log::warn(
                        &RequestId::generate(),
                        "webhook_retry_enqueue_failed",
                        &format!("{}: {}", delivery.id, error.for_log()),
                    );
                }
            }
            Ok(())
        }
    }
}

/// The signing keys: the current secret, and the previous one while its grace lasts.
async fn keys(
    env: &Env,
    delivery: &deliveries::Attempt,
    now: i64,
) -> Result<Vec<Vec<u8>>, ApiError> {
    let data_key = secrets::data_key(env).await?;
    let mut sealed = vec![delivery.secret_enc.as_str()];
    if let (Some(previous), Some(until)) = (
        delivery.previous_secret_enc.as_deref(),
        delivery.previous_secret_expires_at,
    ) && until > now
    {
        sealed.push(previous);
    }
    let mut keys = Vec::new();
    for secret in sealed {
        let plain = crypto::open(
            &data_key,
            secret,
            crate::endpoints::secret_slot(&delivery.endpoint_id),
        )
        .await
        .map_err(|e| ApiError::internal(format!("open webhook secret: {}", e.0)))?;
        let text = String::from_utf8(plain)
            .map_err(|_| ApiError::internal("webhook secret is not UTF-8"))?;
        keys.push(
            secret_key(&text).ok_or_else(|| ApiError::internal("webhook secret is malformed"))?,
        );
    }
    Ok(keys)
}

async fn send(env: &Env, delivery: &deliveries::Attempt, now: i64) -> Result<Outcome, ApiError> {
    // Test projects' rules are the wider ones; a live project's URL passed stricter ones.
    let development = Config::from_env(env).environment == Environment::Development;
    if check_url(&delivery.url, Reach::new(Mode::Test, development)).is_err() {
        return Ok(Outcome::Failed(None, "destination_not_allowed".to_owned()));
    }
    let timestamp = now.div_euclid(1000);
    let signature = signature_header(
        &keys(env, delivery, now).await?,
        &delivery.event_id,
        timestamp,
        &delivery.payload,
    );
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    headers.set("User-Agent", "Tollgate-Webhooks/1")?;
    headers.set("webhook-id", &delivery.event_id)?;
    headers.set("webhook-timestamp", &timestamp.to_string())?;
    headers.set("webhook-signature", &signature)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(delivery.payload.clone().into()));
    let Ok(request) = Request::new_with_init(&delivery.url, &init) else {
        return Ok(Outcome::Failed(None, "invalid_url".to_owned()));
    };
    let exchange = async {
        let mut response = Fetch::Request(request).send().await?;
        // Read the body so the connection is released; only an edge error's start is kept.
        let code = response.status_code();
        let body = if code >= 520 {
            response.bytes().await.unwrap_or_default()
        } else {
            let _ = response.bytes().await;
            Vec::new()
        };
        Ok::<_, worker::Error>((code, body))
    };
    let timeout = Delay::from(Duration::from_secs(ATTEMPT_TIMEOUT_SECONDS));
    Ok(match select(pin!(exchange), pin!(timeout)).await {
        Either::Left((Ok((code, _)), _)) if (200..300).contains(&code) => Outcome::Delivered(code),
        Either::Left((Ok((code, body)), _)) => match edge_failure(code, &body) {
            Some(category) => Outcome::Failed(None, category.to_owned()),
            // A 3xx too: redirects are not followed.
            None => Outcome::Failed(Some(code), http_failure(code)),
        },
        Either::Left((Err(error), _)) => {
            let cause = error.to_string();
            log::warn(
                &RequestId::generate(),
                "webhook_attempt_unreachable",
                &format!("{}: {cause}", delivery.id),
            );
            Outcome::Failed(None, network_failure(&cause).to_owned())
        }
        Either::Right(_) => Outcome::Failed(None, "timeout".to_owned()),
    })
}

/// The cron sweep: queues again the pending deliveries whose attempt is long overdue — a
/// queue send that was lost, or a consumer that died mid-attempt.
pub(crate) async fn sweep(env: &Env) {
    let request_id = RequestId::generate();
    let result = async {
        let db = db::database(env)?;
        let now = now_ms();
        let overdue = deliveries::overdue(&db, now - SWEEP_GRACE_MS, now, SWEEP_LIMIT).await?;
        outbound::enqueue(env, &request_id, &overdue).await;
        Ok::<_, ApiError>(overdue.len())
    }
    .await;
    match result {
        Ok(0) => {}
        Ok(n) => log::warn(
            &request_id,
            "webhook_sweep",
            &format!("queued {n} overdue deliveries again"),
        ),
        Err(error) => log::error(&request_id, "webhook_sweep_failed", &error.for_log()),
    }
}
