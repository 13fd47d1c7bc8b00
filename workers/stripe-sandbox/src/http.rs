//! HTTP at the sandbox's edge: reading a request's parameters (form bodies, query strings,
//! and JSON for the test controls), and answering in Stripe's JSON (with `Request-Id`), in
//! OAuth's error shape, as HTML, or as a redirect.
//!
//! Every failure of a sandbox route is a [`Fail`]; [`answer`] turns it into the shape the
//! caller expects, logging internal causes under the request id and never returning them.

use crate::model::error::StripeError;
use crate::model::events::API_VERSION;
use crate::model::form;
use crate::model::oauth::OAuthError;
use serde_json::{Map, Value};
use tollgate_edge::{ApiError, Ctx, log};
use worker::Response;

/// The largest body the sandbox reads (Stripe's own limit is far larger than any request
/// Tollgate sends).
const BODY_LIMIT: usize = 256 * 1024;

/// Why a sandbox route did not succeed.
#[derive(Debug)]
pub(crate) enum Fail {
    /// An error in Stripe's shape.
    Stripe(StripeError),
    /// An error in OAuth's shape (the Connect endpoints).
    OAuth(OAuthError),
    /// A failure inside the sandbox; the text is logged, never sent.
    Internal(String),
}

impl From<StripeError> for Fail {
    fn from(error: StripeError) -> Self {
        Self::Stripe(error)
    }
}

impl From<OAuthError> for Fail {
    fn from(error: OAuthError) -> Self {
        Self::OAuth(error)
    }
}

impl From<ApiError> for Fail {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Internal { cause } => Self::Internal(cause),
            other => Self::Internal(other.message()),
        }
    }
}

impl From<worker::Error> for Fail {
    fn from(error: worker::Error) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<serde_json::Error> for Fail {
    fn from(error: serde_json::Error) -> Self {
        Self::Internal(format!("json: {error}"))
    }
}

/// The outcome of a sandbox route as the pipeline wants it: failures become answers here.
pub(crate) fn answer(
    ctx_request_id: &tollgate::RequestId,
    outcome: Result<Response, Fail>,
) -> Result<Response, ApiError> {
    let fail = match outcome {
        Ok(response) => return Ok(response),
        Err(fail) => fail,
    };
    let response = match fail {
        Fail::Stripe(error) => stripe_json(error.status, &error.body(), ctx_request_id),
        Fail::OAuth(error) => json_response(error.status, &error.body()),
        Fail::Internal(cause) => {
            log::error(ctx_request_id, "internal_error", &cause);
            let error = StripeError::internal();
            stripe_json(error.status, &error.body(), ctx_request_id)
        }
    };
    response.map_err(|fail| ApiError::internal(format!("{fail:?}")))
}

fn json_response(status: u16, body: &Value) -> Result<Response, Fail> {
    text_json(status, serde_json::to_string(body)?)
}

fn text_json(status: u16, body: String) -> Result<Response, Fail> {
    let response = Response::from_bytes(body.into_bytes())?.with_status(status);
    response.headers().set("Content-Type", "application/json")?;
    Ok(response)
}

/// A Stripe answer: JSON with Stripe's `Request-Id` and `Stripe-Version` headers.
pub(crate) fn stripe_json(
    status: u16,
    body: &Value,
    request_id: &tollgate::RequestId,
) -> Result<Response, Fail> {
    stripe_text(status, serde_json::to_string(body)?, request_id)
}

/// [`stripe_json`] for an already serialized body (answers that are also recorded).
pub(crate) fn stripe_text(
    status: u16,
    body: String,
    request_id: &tollgate::RequestId,
) -> Result<Response, Fail> {
    let response = text_json(status, body)?;
    response.headers().set("Request-Id", request_id.as_str())?;
    response.headers().set("Stripe-Version", API_VERSION)?;
    Ok(response)
}

/// An HTML page.
pub(crate) fn html(status: u16, page: &str) -> Result<Response, Fail> {
    let response = Response::from_bytes(page.as_bytes().to_vec())?.with_status(status);
    response
        .headers()
        .set("Content-Type", "text/html; charset=utf-8")?;
    // No scripts, frames or outside resources. (No `form-action`: Chromium applies it to the
    // redirect after a post too, and these forms redirect to the platform's own URLs.)
    response.headers().set(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    )?;
    Ok(response)
}

/// A redirect (302 for the OAuth grant as Stripe sends it, 303 after a form post).
pub(crate) fn redirect(status: u16, location: &str) -> Result<Response, Fail> {
    let response = Response::empty()?.with_status(status);
    response.headers().set("Location", location)?;
    Ok(response)
}

/// The request's body, at most [`BODY_LIMIT`] bytes, as text.
async fn body_text(ctx: &mut Ctx) -> Result<String, Fail> {
    let declared = ctx
        .header("Content-Length")?
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT) {
        return Err(StripeError::invalid(format!(
            "The request body is larger than {BODY_LIMIT} bytes."
        ))
        .into());
    }
    let bytes = ctx.req.bytes().await?;
    if bytes.len() > BODY_LIMIT {
        return Err(StripeError::invalid(format!(
            "The request body is larger than {BODY_LIMIT} bytes."
        ))
        .into());
    }
    String::from_utf8(bytes)
        .map_err(|_| StripeError::invalid("The request body is not UTF-8.").into())
}

fn is_json(ctx: &Ctx) -> Result<bool, Fail> {
    let content_type = ctx.header("Content-Type")?.unwrap_or_default();
    Ok(content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json")))
}

/// The decoded parameters of a request: the form body of a POST (or a JSON object, which the
/// test controls also take), the query string otherwise.
pub(crate) async fn params(ctx: &mut Ctx) -> Result<Map<String, Value>, Fail> {
    let reads_body = ctx.req.inner().method() == "POST";
    if reads_body && is_json(ctx)? {
        let body = body_text(ctx).await?;
        if body.trim().is_empty() {
            return Ok(Map::new());
        }
        return match serde_json::from_str::<Value>(&body) {
            Ok(Value::Object(map)) => match form::from_json(Value::Object(map)) {
                Value::Object(map) => Ok(map),
                _ => Ok(Map::new()),
            },
            _ => Err(StripeError::invalid("The request body is not a JSON object.").into()),
        };
    }
    let pairs = if reads_body {
        tollgate::form_pairs(&body_text(ctx).await?)
    } else {
        ctx.query()
    };
    form::decode(&pairs).map_err(|e| StripeError::invalid(e.0).into())
}

/// The raw pairs of a form body (the hosted pages' posts), in order.
pub(crate) async fn form_pairs(ctx: &mut Ctx) -> Result<Vec<(String, String)>, Fail> {
    Ok(tollgate::form_pairs(&body_text(ctx).await?))
}

/// The request's origin (`scheme://host:port`), for URLs the sandbox hands out.
pub(crate) fn origin(ctx: &Ctx) -> String {
    crate::model::origin_of(&ctx.req.inner().url()).to_owned()
}
