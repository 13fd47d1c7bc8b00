//! Live checkout status: `GET /api/checkout/{sessionId}/events` as server-sent events, held
//! open by the session's `CheckoutPush` Durable Object until the webhooks worker reports the
//! session complete or expired — for the session's owner only, at most the project's
//! `streamsPerSession` streams at once, each ending after `streamIdleSeconds` without news.
//! A browser's `EventSource` opens it with `?publishableKey=&streamToken=` from
//! `POST /api/checkout/{sessionId}/stream-token`, since it cannot send headers.

use crate::checkout::{NOT_OWNER, owns};
use crate::lanes;
use futures_channel::mpsc::{UnboundedSender, unbounded};
use futures_util::{StreamExt, stream};
use serde_json::json;
use std::cell::RefCell;
use std::time::Duration;
use tollgate::{Detail, stream_token};
use tollgate_edge::db::checkout as store;
use tollgate_edge::{ApiError, Ctx, json};
use worker::{
    Delay, DurableObject, Env, Headers, Method, Request, Response, ResponseBody, State,
    durable_object,
};

type Chunk = Result<Vec<u8>, worker::Error>;

/// One status message in the event-stream format.
fn message(session_id: &str, status: &str) -> Vec<u8> {
    let data = json!({ "sessionId": session_id, "status": status });
    format!("event: status\ndata: {data}\n\n").into_bytes()
}

/// Our own response around `body`: a stub's response carries immutable headers.
fn event_stream(body: ResponseBody) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "text/event-stream")?;
    headers.set("Cache-Control", "no-store")?;
    Ok(Response::from_body(body)?.with_headers(headers))
}

/// `GET /api/checkout/{sessionId}/events`: a final session answers its status at once; an
/// open one is held by its push object until the webhook for it has been applied.
pub(crate) async fn events(ctx: Ctx) -> Result<Response, ApiError> {
    // A browser's `EventSource` sends no headers: its URL carries the publishable key and a
    // stream token for this one session instead.
    let stream_token = ctx
        .query()
        .into_iter()
        .find(|(k, _)| k == "streamToken")
        .map(|(_, v)| v);
    let caller = match stream_token {
        Some(_) => lanes::publishable_in_query(&ctx).await?,
        None => lanes::any_key(&ctx).await?,
    };
    let id = ctx.params.get("sessionId").ok_or(ApiError::NotFound)?;
    let row = store::session(&caller.db, &caller.auth.project_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let listens = match &stream_token {
        Some(token) => stream_token::opens(
            &caller.pepper,
            token,
            &caller.auth.project_id,
            &row.id,
            ctx.now_ms / 1000,
        ),
        None => owns(&ctx, &caller, &row).await?,
    };
    if !listens {
        return Err(NOT_OWNER);
    }
    if row.status != "open" {
        return Ok(event_stream(ResponseBody::Body(message(
            &row.id,
            tollgate::checkout::session_status(&row.status),
        )))?);
    }
    let stub = ctx
        .env
        .durable_object("CHECKOUT_PUSH")?
        .id_from_name(&row.id)?
        .get_stub()?;
    let (_, limits) = store::settings(&caller.db, &caller.auth.project_id).await?;
    let held = stub
        .fetch_with_str(&format!(
            "https://push/{}?max={}&idle={}",
            row.id, limits.streams_per_session, limits.stream_idle_seconds
        ))
        .await?;
    if held.status_code() == 429 {
        return Err(ApiError::StreamLimitReached);
    }
    // An object that failed must not pass for a stream that is merely quiet.
    if held.status_code() != 200 {
        return Err(ApiError::internal(format!(
            "push object answered {}",
            held.status_code()
        )));
    }
    Ok(event_stream(held.body().clone())?)
}

/// `POST /api/checkout/{sessionId}/stream-token`: for the session's owner (its end user, the
/// guest holding the cart's secret, or the server), a token and the URL a browser's
/// `EventSource` opens the stream with, for [`stream_token::LIFETIME_SECONDS`].
pub(crate) async fn stream_token(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let id = ctx.params.get("sessionId").ok_or(ApiError::NotFound)?;
    let row = store::session(&caller.db, &caller.auth.project_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !owns(&ctx, &caller, &row).await? {
        return Err(NOT_OWNER);
    }
    let expires_s = ctx.now_ms / 1000 + stream_token::LIFETIME_SECONDS;
    let token = stream_token::sign(&caller.pepper, &caller.auth.project_id, &row.id, expires_s);
    let url = format!(
        "/api/checkout/{}/events?publishableKey={}&streamToken={token}",
        row.id, caller.auth.publishable_key
    );
    json(
        200,
        &Detail {
            data: json!({ "streamToken": token, "expiresAt": expires_s * 1000, "url": url }),
        },
    )
}

/// The open event streams of one checkout session (named by its id), in memory: a client
/// that connects after the object was evicted still learns a final status from D1 first.
#[durable_object(fetch)]
#[derive(Debug)]
pub struct CheckoutPush {
    clients: RefCell<Vec<UnboundedSender<Chunk>>>,
    /// The final status once notified, for a client whose D1 read raced the webhook.
    final_status: RefCell<Option<Vec<u8>>>,
}

impl DurableObject for CheckoutPush {
    fn new(_state: State, _env: Env) -> Self {
        Self {
            clients: RefCell::new(Vec::new()),
            final_status: RefCell::new(None),
        }
    }

    /// `GET /{sessionId}?max=…&idle=…` opens a stream (429 when `max` are open already);
    /// `POST /{sessionId}?status=…` (from the webhooks worker) sends every open stream the
    /// final status and closes it.
    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        // `https://push/{sessionId}?…`, built by us and the webhooks worker.
        let url = req.inner().url();
        let rest = url.trim_start_matches("https://push/");
        let (session_id, query) = rest.split_once('?').unwrap_or((rest, ""));
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or("")
        };
        if req.method() == Method::Post {
            let status = param("status");
            let final_message = message(session_id, status);
            // Dropping each sender ends its stream after the message.
            for client in self.clients.borrow_mut().drain(..) {
                let _gone = client.unbounded_send(Ok(final_message.clone()));
            }
            *self.final_status.borrow_mut() = Some(final_message);
            return Ok(Response::empty()?.with_status(204));
        }
        if let Some(done) = self.final_status.borrow().clone() {
            return Response::from_bytes(done);
        }
        let max: usize = param("max").parse().unwrap_or(3);
        let idle: u64 = param("idle").parse().unwrap_or(300);
        let mut clients = self.clients.borrow_mut();
        clients.retain(|c| !c.is_closed());
        if clients.len() >= max {
            return Ok(Response::empty()?.with_status(429));
        }
        let (client, news) = unbounded();
        clients.push(client);
        let hello: Chunk = Ok(format!(
            ": connected\n\n{}",
            String::from_utf8_lossy(&message(session_id, "open"))
        )
        .into_bytes());
        // A quiet stream ends on its own; the client reconnects (and reads D1 first). The
        // timer is first polled by the read that waits for news, after the hello went out:
        // `Delay` wakes only the waker of its first poll.
        let quiet = Delay::from(Duration::from_secs(idle));
        Response::from_stream(stream::iter([hello]).chain(news.take_until(quiet)))
    }
}
