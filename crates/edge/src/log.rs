//! Structured log lines: one JSON object per line, always carrying the request id.
//!
//! Callers pass causes, never credentials; nothing here can tell a secret from text.

use serde_json::json;
use tollgate::RequestId;

/// Logs an error that the caller only sees as an opaque answer.
pub fn error(request_id: &RequestId, event: &str, cause: &str) {
    worker::console_error!(
        "{}",
        json!({ "level": "error", "event": event, "requestId": request_id.as_str(), "cause": cause })
    );
}

/// Logs a failure that was answered with a clear code but deserves an operator's eye (an
/// upstream refusing us, say).
pub fn warn(request_id: &RequestId, event: &str, cause: &str) {
    worker::console_warn!(
        "{}",
        json!({ "level": "warn", "event": event, "requestId": request_id.as_str(), "cause": cause })
    );
}
