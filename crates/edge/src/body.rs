//! Request bodies: JSON only, bounded in size, parsed straight into the route's typed input.
//!
//! Unknown fields are refused (the input types use `deny_unknown_fields`), so a typo in a
//! field name is an error instead of a silently ignored setting.

use crate::ApiError;
use serde::de::DeserializeOwned;
use worker::Request;

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
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let bytes = req.bytes().await?;
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
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
    fn parse_errors_drop_positions() {
        let err = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(describe(&err), "EOF while parsing an object");
    }
}
