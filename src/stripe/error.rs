//! Stripe's failures, read from its answers and sorted into what our callers can act on.
//!
//! Stripe's own messages are logged, never returned: they can name accounts, objects and
//! parameters of the platform. Only a card decline's message is meant for the payer.

use serde::Deserialize;

/// What kind of failure, as far as our callers care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// The payer's card or payment method was declined; the message is safe to show.
    CardDeclined {
        /// Stripe's message for the payer.
        message: String,
    },
    /// Stripe refused the parameters (a bug on our side or stale data); not retryable.
    InvalidRequest,
    /// The object does not exist on the account.
    Missing,
    /// The platform's Stripe credentials are wrong or lack a permission.
    Misconfigured,
    /// The connected account does not (or no longer) grant access to the platform.
    AccountUnavailable,
    /// An OAuth authorization code was unknown, used or expired.
    OAuthGrantInvalid,
    /// Stripe is down, overloaded or did not answer in time; retrying may help.
    Unavailable,
    /// Stripe answered something we cannot read, or refused an idempotent retry's parameters.
    Unexpected,
}

/// A failed call to Stripe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderError {
    /// The kind that decides our answer.
    pub kind: ProviderErrorKind,
    /// Stripe's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What happened, for the log only (may name Stripe objects; never a credential).
    pub detail: String,
}

impl ProviderError {
    /// Stripe did not answer in time or the connection failed.
    #[must_use]
    pub fn unreachable(detail: impl Into<String>) -> Self {
        Self {
            kind: ProviderErrorKind::Unavailable,
            status: None,
            detail: detail.into(),
        }
    }

    /// Stripe answered 2xx with a body we could not read.
    #[must_use]
    pub fn unreadable(status: u16, detail: impl Into<String>) -> Self {
        Self {
            kind: ProviderErrorKind::Unexpected,
            status: Some(status),
            detail: detail.into(),
        }
    }

    /// Whether sending the same call again (same idempotency key) may succeed.
    #[must_use]
    pub fn retryable(&self) -> bool {
        self.kind == ProviderErrorKind::Unavailable
    }

    /// Reads a non-2xx answer: the REST shape `{"error":{type,code,message,param}}` or the
    /// OAuth shape `{"error":"invalid_grant","error_description":…}`.
    #[must_use]
    pub fn from_response(status: u16, body: &str) -> Self {
        #[derive(Deserialize)]
        struct Rest {
            error: RestError,
        }
        #[derive(Deserialize)]
        struct RestError {
            #[serde(rename = "type")]
            kind: Option<String>,
            code: Option<String>,
            message: Option<String>,
            param: Option<String>,
        }
        #[derive(Deserialize)]
        struct OAuth {
            error: String,
            error_description: Option<String>,
        }

        if let Ok(Rest { error }) = serde_json::from_str::<Rest>(body) {
            let kind = classify(
                status,
                error.kind.as_deref().unwrap_or(""),
                error.code.as_deref().unwrap_or(""),
            );
            let kind = match kind {
                ProviderErrorKind::CardDeclined { .. } => ProviderErrorKind::CardDeclined {
                    message: error
                        .message
                        .clone()
                        .unwrap_or_else(|| "The payment was declined.".to_owned()),
                },
                other => other,
            };
            let detail = format!(
                "stripe {status} {}/{}: {} (param {})",
                error.kind.as_deref().unwrap_or("-"),
                error.code.as_deref().unwrap_or("-"),
                error.message.as_deref().unwrap_or("-"),
                error.param.as_deref().unwrap_or("-"),
            );
            return Self {
                kind,
                status: Some(status),
                detail,
            };
        }
        if let Ok(oauth) = serde_json::from_str::<OAuth>(body) {
            let kind = match (status, oauth.error.as_str()) {
                (_, "invalid_grant") => ProviderErrorKind::OAuthGrantInvalid,
                (_, "invalid_client") => ProviderErrorKind::Misconfigured,
                (500.., _) => ProviderErrorKind::Unavailable,
                _ => ProviderErrorKind::InvalidRequest,
            };
            return Self {
                kind,
                status: Some(status),
                detail: format!(
                    "stripe oauth {status} {}: {}",
                    oauth.error,
                    oauth.error_description.unwrap_or_default()
                ),
            };
        }
        let kind = if status >= 500 || status == 429 {
            ProviderErrorKind::Unavailable
        } else {
            ProviderErrorKind::Unexpected
        };
        Self {
            kind,
            status: Some(status),
            detail: format!("stripe {status} with an unreadable body"),
        }
    }
}

/// Sorts a Stripe error by status, type and code.
fn classify(status: u16, kind: &str, code: &str) -> ProviderErrorKind {
    match (status, kind, code) {
        (_, "card_error", _) | (402, _, _) => ProviderErrorKind::CardDeclined {
            message: String::new(),
        },
        (_, "idempotency_error", _) => ProviderErrorKind::Unexpected,
        (_, _, "account_invalid") => ProviderErrorKind::AccountUnavailable,
        (401, _, _) => ProviderErrorKind::Misconfigured,
        (403, _, _) => ProviderErrorKind::AccountUnavailable,
        (404, _, _) | (_, _, "resource_missing") => ProviderErrorKind::Missing,
        (429 | 500.., _, _) | (_, "api_error", _) => ProviderErrorKind::Unavailable,
        _ => ProviderErrorKind::InvalidRequest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest(kind: &str, code: &str) -> String {
        format!(
            r#"{{"error":{{"type":"{kind}","code":"{code}","message":"m for acct_123","param":"p"}}}}"#
        )
    }

    #[test]
    fn stripe_answers_are_sorted_by_status_type_and_code() {
        let cases = [
            (402, rest("card_error", "card_declined"), "card"),
            (
                400,
                rest("invalid_request_error", "parameter_unknown"),
                "invalid",
            ),
            (
                404,
                rest("invalid_request_error", "resource_missing"),
                "missing",
            ),
            (401, rest("invalid_request_error", ""), "misconfigured"),
            (
                403,
                rest("invalid_request_error", "account_invalid"),
                "account",
            ),
            (403, rest("permission_error", ""), "account"),
            (
                429,
                rest("invalid_request_error", "rate_limit"),
                "unavailable",
            ),
            (500, rest("api_error", ""), "unavailable"),
            (503, "<html>busy</html>".to_owned(), "unavailable"),
            (400, rest("idempotency_error", ""), "unexpected"),
            (418, "teapot".to_owned(), "unexpected"),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"used"}"#.to_owned(),
                "grant",
            ),
            (
                401,
                r#"{"error":"invalid_client","error_description":"no"}"#.to_owned(),
                "misconfigured",
            ),
        ];
        for (status, body, expected) in cases {
            let kind = ProviderError::from_response(status, &body).kind;
            let name = match kind {
                ProviderErrorKind::CardDeclined { .. } => "card",
                ProviderErrorKind::InvalidRequest => "invalid",
                ProviderErrorKind::Missing => "missing",
                ProviderErrorKind::Misconfigured => "misconfigured",
                ProviderErrorKind::AccountUnavailable => "account",
                ProviderErrorKind::OAuthGrantInvalid => "grant",
                ProviderErrorKind::Unavailable => "unavailable",
                ProviderErrorKind::Unexpected => "unexpected",
            };
            assert_eq!(name, expected, "{status} {body}");
        }
    }

    #[test]
    fn only_a_card_decline_keeps_stripes_message() {
        let declined = ProviderError::from_response(402, &rest("card_error", "card_declined"));
        assert_eq!(
            declined.kind,
            ProviderErrorKind::CardDeclined {
                message: "m for acct_123".to_owned()
            }
        );
    }

    #[test]
    fn only_unavailability_is_worth_a_retry() {
        assert!(ProviderError::unreachable("timeout").retryable());
        assert!(ProviderError::from_response(502, "").retryable());
        assert!(!ProviderError::from_response(400, &rest("invalid_request_error", "")).retryable());
        assert!(!ProviderError::from_response(401, &rest("invalid_request_error", "")).retryable());
    }
}
