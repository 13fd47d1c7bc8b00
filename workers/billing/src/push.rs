//! Live checkout status: `GET /api/checkout/{sessionId}/events` as server-sent events, held
//! open by the session's `CheckoutPush` Durable Object until the webhooks worker reports the
//! session complete or expired — for the session's owner only, at most the project's
//! `streamsPerSession` streams at once, each ending after `streamIdleSeconds` without news.
//! A browser's `EventSource` opens it with `?publishableKey=&streamToken=` from
//! `POST /api/checkout/{sessionId}/stream-token`, since it cannot send headers.

use crate::checkout::{NOT_OWNER, owns};
use serde_json::json;
use tollgate::{Detail, stream_token};
use tollgate_edge::db::checkout as store;
use tollgate_edge::lanes;
use tollgate_edge::{ApiError, Ctx, json};
use worker::{Headers, Response, ResponseBody};

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
    if row.status != tollgate::checkout::SessionStatus::Open {
        return Ok(event_stream(ResponseBody::Body(message(
            &row.id,
            row.status.public(),
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
