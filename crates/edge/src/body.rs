//! Request bodies: JSON only, bounded in size, parsed straight into the route's typed input.
//!
//! Unknown fields are refused (the input types use `deny_unknown_fields`), so a typo in a
//! field name is an error instead of a silently ignored setting.

use crate::ApiError;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::Request;
use worker::js_sys::{Reflect, Uint8Array};
use worker::web_sys::ReadableStreamDefaultReader;

/// The default body limit for developer and customer writes.
pub const DEFAULT_LIMIT: usize = 16 * 1024;

/// Reads and parses a JSON body of at most `limit` bytes.
///
/// # Errors
/// 415 when the content type is not JSON, 413 when too large, 400 when not the expected JSON.
pub async fn json<T: DeserializeOwned>(req: &mut Request, limit: usize) -> Result<T, ApiError> {
    let bytes = read(req, limit).await?;
    parse(&bytes)
}

/// Reads the raw body (at most `limit` bytes), refusing non-JSON content types. Kept raw for
/// routes that fingerprint it (idempotency) before parsing.
///
/// # Errors
/// 415 when a body is sent with another content type; 413 when too large.
pub async fn read(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let bytes = capped(req, limit).await?;
    if !bytes.is_empty() {
        let content_type = req.headers().get("Content-Type")?.unwrap_or_default();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    Ok(bytes)
}

/// Reads an `application/x-www-form-urlencoded` body (an HTML form's, an OAuth token
/// request's) of at most `limit` bytes as its decoded pairs.
///
/// # Errors
/// 415 for another content type; 413 when too large; 422 when it is not UTF-8.
pub async fn form(req: &mut Request, limit: usize) -> Result<Vec<(String, String)>, ApiError> {
    let content_type = req.headers().get("Content-Type")?.unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = capped(req, limit).await?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::field("body", "is not UTF-8"))?;
    Ok(tollgate::form_pairs(text))
}

/// Reads the raw body, whatever its type, refusing it with 413 as soon as it is known to
/// exceed `limit` bytes: at once when it declares a larger `Content-Length`, otherwise at
/// the first chunk that takes it over, when the rest is cancelled unread. A body that never
/// ends therefore costs at most `limit` bytes and answers promptly.
///
/// # Errors
/// 413 when too large; internal errors when the runtime fails to read.
pub async fn capped(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let Some(stream) = req.inner().body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut bytes = Vec::new();
    loop {
        let next = JsFuture::from(reader.read()).await.map_err(unreadable)?;
        if Reflect::get(&next, &"done".into())
            .map_err(unreadable)?
            .is_truthy()
        {
            return Ok(bytes);
        }
        let chunk: Uint8Array = Reflect::get(&next, &"value".into())
            .map_err(unreadable)?
            .unchecked_into();
        if !fits(bytes.len(), chunk.length() as usize, limit) {
            // Stop reading: the rest of the body is never pulled from the client.
            drop(reader.cancel());
            return Err(ApiError::PayloadTooLarge(limit));
        }
        bytes.extend(chunk.to_vec());
    }
}

/// Whether `chunk` more bytes on top of `held` stay within `limit`.
fn fits(held: usize, chunk: usize, limit: usize) -> bool {
    held.checked_add(chunk).is_some_and(|total| total <= limit)
}

fn unreadable(err: wasm_bindgen::JsValue) -> ApiError {
    worker::Error::from(err).into()
}

/// Parses a body read by [`read`]. An empty body parses as `{}`, so routes whose fields are all
/// optional accept no body at all.
///
/// # Errors
/// 400 `invalid_json` saying what is wrong.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|err| ApiError::InvalidJson(describe(&err)))
}

/// serde's message without the line/column noise.
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    text.split(" at line ").next().unwrap_or(&text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_fits_while_the_total_stays_within_the_limit() {
        let cases = [
            (0, 0, 10, true),
            (4, 6, 10, true),
            (4, 7, 10, false),
            (11, 0, 10, false),
            (usize::MAX, 1, usize::MAX, false),
        ];
        for (held, chunk, limit, fits_in) in cases {
            assert_eq!(
                fits(held, chunk, limit),
                fits_in,
                "{held}+{chunk} of {limit}"
            );
        }
    }

    #[test]
    fn parse_errors_drop_positions() {
        let err = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(describe(&err), "EOF while parsing an object");
    }
}
