//! Stripe's error vocabulary: `{"error":{"type","code"?,"message","param"?,"doc_url"?}}` with
//! the statuses Stripe uses, so the official libraries raise their typed errors
//! (`StripeInvalidRequestError`, `StripeAuthenticationError`, `StripePermissionError`,
//! `StripeIdempotencyError`, `StripeAPIError`…) exactly as they would against Stripe.

use serde_json::{Map, Value, json};

/// Stripe's `error.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorType {
    /// Something went wrong on Stripe's side (5xx).
    Api,
    /// A card was declined (402).
    Card,
    /// An `Idempotency-Key` was reused with other parameters.
    Idempotency,
    /// The request was wrong: parameters, ids, credentials.
    InvalidRequest,
}

impl ErrorType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api_error",
            Self::Card => "card_error",
            Self::Idempotency => "idempotency_error",
            Self::InvalidRequest => "invalid_request_error",
        }
    }
}

/// An error answered in Stripe's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StripeError {
    pub(crate) status: u16,
    pub(crate) kind: ErrorType,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
    pub(crate) param: Option<String>,
}

impl StripeError {
    fn new(status: u16, kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            code: None,
            message: message.into(),
            param: None,
        }
    }

    fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.to_owned());
        self
    }

    pub(crate) fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    /// 400 `invalid_request_error`: the request cannot be served as asked.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequest, message)
    }

    /// 400 `parameter_unknown`.
    pub(crate) fn unknown_parameter(name: &str) -> Self {
        Self::invalid(format!("Received unknown parameter: {name}"))
            .with_code("parameter_unknown")
            .with_param(name)
    }

    /// 400 `parameter_missing`.
    pub(crate) fn missing_parameter(name: &str) -> Self {
        Self::invalid(format!("Missing required param: {name}."))
            .with_code("parameter_missing")
            .with_param(name)
    }

    /// 400 for a value of the wrong kind or out of range, with Stripe's code for the kind.
    pub(crate) fn invalid_value(name: &str, code: &str, message: impl Into<String>) -> Self {
        Self::invalid(message).with_code(code).with_param(name)
    }

    /// 404 `resource_missing`: `noun` as Stripe says it (`customer`, `price`…).
    pub(crate) fn no_such(noun: &str, id: &str, param: &str) -> Self {
        Self::new(
            404,
            ErrorType::InvalidRequest,
            format!("No such {noun}: '{id}'"),
        )
        .with_code("resource_missing")
        .with_param(param)
    }

    /// 404 for a path the sandbox does not serve.
    pub(crate) fn unrecognized_url(method: &str, path: &str) -> Self {
        Self::new(
            404,
            ErrorType::InvalidRequest,
            format!(
                "Unrecognized request URL ({method}: {path}). This Stripe sandbox serves a subset of Stripe's API; see docs/stripe-sandbox.md."
            ),
        )
    }

    /// 401: no key sent.
    pub(crate) fn missing_key() -> Self {
        Self::new(
            401,
            ErrorType::InvalidRequest,
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    }

    /// 401: a key that is not a secret key, or a revoked access token; `masked` never shows
    /// the key.
    pub(crate) fn invalid_key(masked: &str) -> Self {
        Self::new(
            401,
            ErrorType::InvalidRequest,
            format!("Invalid API Key provided: {masked}"),
        )
    }

    /// 403 `account_invalid`: the key may not act for `account`.
    pub(crate) fn account_invalid(masked: &str, account: &str) -> Self {
        Self::new(
            403,
            ErrorType::InvalidRequest,
            format!(
                "The provided key '{masked}' does not have access to account '{account}' (or that account does not exist). Application access may have been revoked."
            ),
        )
        .with_code("account_invalid")
    }

    /// 400 `idempotency_error`: the key was first used for another request.
    pub(crate) fn idempotency_mismatch(key: &str) -> Self {
        Self::new(
            400,
            ErrorType::Idempotency,
            format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            ),
        )
    }

    /// 409: the first request with this key is still running.
    pub(crate) fn idempotency_in_flight(key: &str) -> Self {
        Self::new(
            409,
            ErrorType::Idempotency,
            format!(
                "There is currently another in-progress request using this Stripe API key and idempotency key '{key}'. Try again later."
            ),
        )
        .with_code("lock_timeout")
    }

    /// An injected fault: `status` with the type Stripe uses for it, unless `code` or
    /// `message` say otherwise.
    pub(crate) fn injected(status: u16, code: Option<&str>, message: Option<&str>) -> Self {
        let (kind, default_code) = match status {
            402 => (ErrorType::Card, Some("card_declined")),
            429 => (ErrorType::InvalidRequest, Some("rate_limit")),
            400..=499 => (ErrorType::InvalidRequest, None),
            _ => (ErrorType::Api, None),
        };
        let message = message.map_or_else(
            || format!("Injected fault: this sandbox was told to answer {status} here."),
            str::to_owned,
        );
        Self {
            status,
            kind,
            code: code.or(default_code).map(str::to_owned),
            message,
            param: None,
        }
    }

    /// 500 `api_error` for a failure inside the sandbox (the cause is logged, not sent).
    pub(crate) fn internal() -> Self {
        Self::new(
            500,
            ErrorType::Api,
            "An unknown error occurred in the Stripe sandbox; its log has the cause.",
        )
    }

    /// The answer body.
    pub(crate) fn body(&self) -> Value {
        let mut error = Map::new();
        if let Some(code) = &self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        error.insert("type".into(), json!(self.kind.as_str()));
        json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_parameter_names_itself_in_message_param_and_code() {
        let body = StripeError::unknown_parameter("recurring[foo]").body();

        assert_eq!(
            body,
            json!({"error": {
                "code": "parameter_unknown",
                "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
                "message": "Received unknown parameter: recurring[foo]",
                "param": "recurring[foo]",
                "type": "invalid_request_error",
            }})
        );
    }

    #[test]
    fn errors_carry_the_statuses_the_stripe_libraries_map_to_their_types() {
        let cases = [
            (
                StripeError::missing_parameter("mode"),
                400,
                "invalid_request_error",
            ),
            (
                StripeError::no_such("customer", "cus_1", "id"),
                404,
                "invalid_request_error",
            ),
            (StripeError::missing_key(), 401, "invalid_request_error"),
            (
                StripeError::invalid_key("sk_test_…abcd"),
                401,
                "invalid_request_error",
            ),
            (
                StripeError::account_invalid("k", "acct_1"),
                403,
                "invalid_request_error",
            ),
            (
                StripeError::idempotency_mismatch("k"),
                400,
                "idempotency_error",
            ),
            (
                StripeError::idempotency_in_flight("k"),
                409,
                "idempotency_error",
            ),
            (StripeError::internal(), 500, "api_error"),
        ];
        for (error, status, kind) in cases {
            assert_eq!(
                (error.status, error.kind.as_str()),
                (status, kind),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_missing_resource_quotes_its_id_like_stripe() {
        let error = StripeError::no_such("price", "price_9", "line_items[0][price]");

        assert_eq!(error.message, "No such price: 'price_9'");
        assert_eq!(error.code.as_deref(), Some("resource_missing"));
        assert_eq!(error.param.as_deref(), Some("line_items[0][price]"));
    }

    #[test]
    fn injected_faults_take_the_type_stripe_uses_for_their_status() {
        let cases = [
            (500, "api_error", None),
            (503, "api_error", None),
            (429, "invalid_request_error", Some("rate_limit")),
            (402, "card_error", Some("card_declined")),
            (404, "invalid_request_error", None),
        ];
        for (status, kind, code) in cases {
            let error = StripeError::injected(status, None, None);
            assert_eq!(error.kind.as_str(), kind, "{status}");
            assert_eq!(error.code.as_deref(), code, "{status}");
        }
        let custom = StripeError::injected(503, Some("lock_timeout"), Some("busy"));
        assert_eq!(
            (custom.code.as_deref(), custom.message.as_str()),
            (Some("lock_timeout"), "busy")
        );
    }
}
