//! Forwarding a request to a sibling worker over a service binding: the api worker hands its
//! buying routes to the billing worker this way.

use crate::{ApiError, Ctx};
use worker::Response;

/// Sends the request, body unread, to the worker bound as `binding`, with this request's id
/// so the two workers log and answer under one; the answer comes back as the sibling made it.
///
/// # Errors
/// A missing binding, or the runtime failing to reach the sibling (an internal error).
pub async fn to(ctx: Ctx, binding: &str) -> Result<Response, ApiError> {
    let sibling = ctx.env.service(binding)?;
    // A copy whose headers may change; it takes over the original's body stream.
    let request = ctx.req.clone_mut()?;
    request
        .headers()
        .set("X-Request-Id", ctx.request_id.as_str())?;
    let answer = sibling.fetch_request(request).await?;
    // A fetched answer's headers are immutable, and the pipeline adds its own to every
    // answer: the copy takes them.
    let headers = answer.headers().clone();
    Ok(answer.with_headers(headers))
}
