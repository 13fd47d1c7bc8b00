//! Webhook delivery: each event is POSTed to every endpoint that receives it, signed with
//! that endpoint's secret (`Stripe-Signature: t=…,v1=…`), one at a time, with a 10 s limit
//! each. Every attempt is recorded with its status or error; a failed delivery never fails
//! the request that caused the event.

use crate::model::events::Listener;
use crate::store::DeliveryRow;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use tollgate::stripe_signature;
use tollgate_edge::now_ms;
use wasm_bindgen::JsValue;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

/// How long one delivery may take, as on Stripe.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The id of the endpoint configured by `SANDBOX_WEBHOOK_URL`.
pub(crate) const DEFAULT_ENDPOINT: &str = "we_1TollgateSandboxConfigured";

/// Where an event may go.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) endpoint_id: String,
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) listener: Listener,
}

/// Whichever of two futures finishes first (`Ok` for the first, `Err` for the second).
async fn first_of<A: Future, B: Future>(a: A, b: B) -> Result<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        if let Poll::Ready(out) = b.as_mut().poll(cx) {
            return Poll::Ready(Err(out));
        }
        Poll::Pending
    })
    .await
}

async fn post(
    url: &str,
    payload: &str,
    signature: &str,
    controller: &AbortController,
) -> worker::Result<u16> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json; charset=utf-8")?;
    headers.set("Stripe-Signature", signature)?;
    headers.set(
        "User-Agent",
        "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    )?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(payload)))
        // Stripe does not follow redirects: a 3xx is a failed delivery.
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init)?;
    let mut response = Fetch::Request(request)
        .send_with_signal(&controller.signal())
        .await?;
    // Read the answer inside the time limit, so a receiver that never finishes cannot hold
    // the request open.
    let _ = response.bytes().await;
    Ok(response.status_code())
}

/// Delivers `payload` (the event `event_id`) to `target`, and the record of the attempt.
pub(crate) async fn deliver(target: &Target, event_id: &str, payload: &str) -> DeliveryRow {
    let started = now_ms();
    // The signature carries real time, even under the development clock: receivers compare
    // it with their own clocks.
    let signature =
        stripe_signature::sign(&target.secret, started.div_euclid(1000), payload.as_bytes());
    let controller = AbortController::default();
    let outcome = first_of(
        post(&target.url, payload, &signature, &controller),
        Delay::from(TIMEOUT),
    )
    .await;
    let (status, error) = match outcome {
        Ok(Ok(status)) => (Some(i64::from(status)), None),
        Ok(Err(error)) => (None, Some(error.to_string())),
        Err(()) => {
            controller.abort();
            (
                None,
                Some(format!("timed out after {} s", TIMEOUT.as_secs())),
            )
        }
    };
    DeliveryRow {
        event_id: event_id.to_owned(),
        endpoint_id: target.endpoint_id.clone(),
        url: target.url.clone(),
        attempted_at: started,
        status,
        error,
        duration_ms: now_ms() - started,
    }
}

/// Whether an attempt succeeded (any 2xx).
pub(crate) fn succeeded(row: &DeliveryRow) -> bool {
    row.status.is_some_and(|s| (200..300).contains(&s))
}
