//! The `CheckoutPush` Durable Object: the open event streams of one checkout session, held
//! until the webhooks worker reports the session final. The api worker's
//! `GET /api/checkout/{sessionId}/events` opens them (workers/api/src/push.rs); the class
//! lives here so it costs the api worker no wasm.

use futures_channel::mpsc::{UnboundedSender, unbounded};
use futures_util::{StreamExt, stream};
use serde_json::json;
use std::cell::RefCell;
use std::time::Duration;
use worker::{Delay, DurableObject, Env, Method, Request, Response, State, durable_object};

type Chunk = Result<Vec<u8>, worker::Error>;

/// One status message in the event-stream format.
fn message(session_id: &str, status: &str) -> Vec<u8> {
    let data = json!({ "sessionId": session_id, "status": status });
    format!("event: status\ndata: {data}\n\n").into_bytes()
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
