//! `ApiError`: the one error type handlers return and the only mapping from errors to HTTP.
//!
//! Every error leaves as `{ error, code, fieldErrors?, requestId }` with its status. Internal
//! causes are logged under the request id and never sent: the caller gets an opaque 500.

use crate::log;
use tollgate::{ErrorBody, ErrorCode, Method, RequestId};
use worker::{Headers, Response};

/// An error a handler answers with.
#[derive(Debug)]
pub enum ApiError {
    /// No route or resource answers to this path.
    NotFound,
    /// The path is served, but only with these methods.
    MethodNotAllowed {
        /// The methods served on the path.
        allow: Vec<Method>,
    },
    /// Something failed inside Tollgate. `cause` is logged, never returned.
    Internal {
        /// What went wrong, for the log.
        cause: String,
    },
}

impl ApiError {
    /// An internal failure with its cause, for the log.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self::Internal {
            cause: cause.into(),
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Internal { .. } => 500,
        }
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::Internal { .. } => ErrorCode::InternalError,
        }
    }

    /// The message that is safe to show.
    #[must_use]
    pub fn message(&self) -> &'static str {
        match self {
            Self::NotFound => "No such resource or route.",
            Self::MethodNotAllowed { .. } => "This method is not allowed on this route.",
            Self::Internal { .. } => {
                "Something went wrong on our side. Quote the request id if you contact support."
            }
        }
    }

    /// Headers this error adds beyond the common ones.
    fn extra_headers(&self, headers: &Headers) -> worker::Result<()> {
        if let Self::MethodNotAllowed { allow } = self {
            let list: Vec<&str> = allow.iter().map(|m| m.as_str()).collect();
            headers.set("Allow", &list.join(", "))?;
        }
        Ok(())
    }

    /// The response for this error; logs internal causes under the request id.
    ///
    /// # Errors
    /// Fails only if the runtime cannot build a response.
    pub fn into_response(self, request_id: &RequestId) -> worker::Result<Response> {
        if let Self::Internal { cause } = &self {
            log::error(request_id, "internal_error", cause);
        }
        let body = ErrorBody {
            error: self.message(),
            code: self.code(),
            field_errors: None,
            request_id: request_id.as_str(),
        };
        let response = Response::from_json(&body)?.with_status(self.status());
        self.extra_headers(response.headers())?;
        Ok(response)
    }
}

impl From<worker::Error> for ApiError {
    fn from(err: worker::Error) -> Self {
        Self::internal(err.to_string())
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        Self::internal(format!("json: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_status_and_code() {
        let cases = [
            (ApiError::NotFound, 404, ErrorCode::NotFound),
            (
                ApiError::MethodNotAllowed {
                    allow: vec![Method::Get],
                },
                405,
                ErrorCode::MethodNotAllowed,
            ),
            (
                ApiError::internal("db exploded"),
                500,
                ErrorCode::InternalError,
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code), "{error:?}");
        }
    }

    #[test]
    fn the_internal_message_never_contains_the_cause() {
        let error = ApiError::internal("password=hunter2 at table api_keys");
        assert!(!error.message().contains("hunter2"));
        assert!(!error.message().contains("api_keys"));
    }
}
