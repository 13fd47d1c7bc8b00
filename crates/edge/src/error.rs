//! `ApiError`: the one error type handlers return and the only mapping from errors to HTTP.
//!
//! Every error leaves as `{ error, code, fieldErrors?, requestId }` with its status. Internal
//! causes are logged under the request id and never sent: the caller gets an opaque 500.

use crate::log;
use std::collections::BTreeMap;
use tollgate::jwt::TokenError;
use tollgate::stripe::ProviderErrorKind;
use tollgate::stripe_signature::SignatureError;
use tollgate::{ErrorBody, ErrorCode, Method, Mode, ProjectType, RequestId};
use worker::{Headers, Response};

/// Per-field problems: field name → reasons.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// An error a handler answers with.
#[derive(Debug)]
pub enum ApiError {
    /// No route or resource answers to this path (also another tenant's resource).
    NotFound,
    /// No route here, but another of Tollgate's workers serves the path (named).
    ServedElsewhere(&'static str),
    /// The path is served, but only with these methods.
    MethodNotAllowed {
        /// The methods served on the path.
        allow: Vec<Method>,
    },
    /// The body is not JSON of the expected shape; the message says what is wrong.
    InvalidJson(String),
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body exceeds the route's limit (bytes).
    PayloadTooLarge(usize),
    /// Fields failed validation.
    Validation(FieldErrors),
    /// No credential, or not the kind the route takes.
    MissingCredentials(&'static str),
    /// A bearer token was refused.
    InvalidToken(TokenError),
    /// An API key was refused.
    InvalidApiKey,
    /// The write needs a recent sign-in.
    ReauthenticationRequired,
    /// The credential may not use this route.
    Forbidden(&'static str),
    /// The record moved since the caller's `updatedAt`.
    StaleUpdate,
    /// A drift repair's `confirmation` no longer matches the drift found now.
    DriftChanged,
    /// The same `Idempotency-Key` is being processed.
    IdempotencyInFlight,
    /// The `Idempotency-Key` was used with another request.
    IdempotencyKeyReused,
    /// The `Idempotency-Key` header is malformed.
    InvalidIdempotencyKey,
    /// A replay would have to show a secret again after its reveal window.
    SecretAlreadyShown,
    /// The end user's allowance is used up until `retry_after` seconds from now.
    UsageLimitReached {
        /// The usage object at the limit (boxed: it would make every `Result` large).
        usage: Box<tollgate::usage::Usage>,
        /// Seconds until the next period.
        retry_after: i64,
    },
    /// No tier applies to the end user.
    PlanNotConfigured,
    /// The end-user token was refused.
    InvalidEndUserToken(&'static str),
    /// The end user is not known in this project.
    UnknownEndUser,
    /// The external id is taken in this project.
    DuplicateExternalId,
    /// Live keys are paused (the developer's subscription lapsed).
    LiveModeInactive,
    /// The key exceeded its requests per second.
    RateLimited,
    /// The client address spent its failed-lookup budget; retry after this many seconds.
    TooManyAuthFailures(i64),
    /// The client exceeded a longer window's requests; retry after this many seconds.
    RateLimitedFor(i64),
    /// The buyer already holds as many units as the project lets one buyer hold.
    HoldLimitReached,
    /// The project has as many open guest carts as it keeps at once.
    GuestCartsFull,
    /// The checkout session has as many open event streams as it keeps at once.
    StreamLimitReached,
    /// Stripe failed or refused; the detail is logged, never returned.
    Provider(tollgate::stripe::ProviderError),
    /// The Connect `state` is unknown, tampered with, expired or used.
    InvalidOAuthState,
    /// The Connect callback came from a browser without the state's cookie.
    ConnectBrowserMismatch,
    /// The developer declined on Stripe's consent screen.
    ConnectDeclined,
    /// The Stripe account belongs to another platform in this mode.
    StripeAccountInUse,
    /// No usable Stripe connection for this mode.
    ConnectionRequired(tollgate::Mode),
    /// The project's type does not carry this kind of record.
    WrongProjectType(tollgate::ProjectType),
    /// A second free tier.
    FreeTierExists,
    /// The free tier cannot be archived or priced; a paid tier cannot become free.
    FreeTierLocked,
    /// The name is taken in the project.
    DuplicateName,
    /// The record is archived.
    Archived,
    /// The test project already has its live twin.
    AlreadyPromoted,
    /// Promotion starts from a test project.
    NotATestProject,
    /// A `Stripe-Signature` header was refused.
    InvalidSignature(SignatureError),
    /// A client `priceId` that is not the tier's.
    PriceMismatch,
    /// The end user already subscribes to the tier.
    AlreadySubscribed,
    /// These products (by name) cannot supply the cart.
    SoldOut(Vec<String>),
    /// The end user has no Stripe customer yet.
    NoBillingAccount,
    /// The developer has never started a Tollgate plan, so Tollgate's account has no
    /// customer for them.
    NoPlanBillingAccount,
    /// An upload without `Content-Length`.
    LengthRequired,
    /// The upload is empty or shorter or longer than it declared.
    InvalidUpload(&'static str),
    /// The upload's bytes are not a type the upload takes.
    UnsupportedFileType(&'static str),
    /// The asset is attached to a product or tier.
    AssetInUse,
    /// No active entitlement covers the file; the message says which case.
    EntitlementRequired(&'static str),
    /// The entitlement was already revoked.
    AlreadyRevoked,
    /// A subscription's entitlement cannot be revoked here.
    NotRevocable,
    /// The product or tier has no download attached.
    NoDownload,
    /// The download token was refused as not Tollgate's.
    DownloadTokenInvalid,
    /// The download token expired.
    DownloadTokenExpired,
    /// The `Range` starts past the end of a file of this many bytes.
    RangeNotSatisfiable(u64),
    /// The end user has no live subscription.
    NoSubscription,
    /// Resume of a subscription that is not set to cancel.
    SubscriptionNotCanceling,
    /// A plan change is still waiting for the provider's webhook.
    ChangePending,
    /// The webhook endpoint is disabled.
    EndpointDisabled,
    /// The project has the most webhook endpoints it may have.
    EndpointLimitReached,
    /// A create would pass a per-tenant cap.
    LimitExceeded(tollgate::limits::Exceeded),
    /// D1 did not answer (lost connection, overload, a reset, or no binding). `cause` is
    /// logged, never returned.
    StorageUnavailable {
        /// What the storage layer said, for the log.
        cause: String,
    },
    /// No usable JWKS could be fetched for a token's issuer. The end-user lane answers it as a
    /// refused token; anywhere else it is an internal failure. `.0` is logged, never returned.
    JwksUnavailable(String),
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

    /// One invalid field.
    pub fn field(name: &str, reason: &str) -> Self {
        Self::Validation(BTreeMap::from([(name.to_owned(), vec![reason.to_owned()])]))
    }

    /// What a log line says about an error that was handled rather than answered: the cause
    /// for failures inside Tollgate or at the provider, else the status and message. (Not
    /// `Debug`: its derive for every nested type would cost each worker kilobytes of wasm.)
    #[must_use]
    pub fn for_log(&self) -> String {
        match self {
            Self::Internal { cause }
            | Self::StorageUnavailable { cause }
            | Self::JwksUnavailable(cause) => cause.clone(),
            Self::Provider(failure) => failure.detail.clone(),
            other => format!("{} {}", other.status(), other.message()),
        }
    }

    /// The one table: each error's HTTP status, stable code and safe message side by side, so
    /// a new error is one line here.
    fn entry(&self) -> (u16, ErrorCode, String) {
        match self {
            Self::NotFound => (404, ErrorCode::NotFound, "No such resource or route.".into()),
            Self::ServedElsewhere(worker) => (404, ErrorCode::NotFound, format!(
                "No such route on this worker: the {worker} worker serves this path. Call it there, or through the one base URL, which routes every path."
            )),
            Self::MethodNotAllowed { .. } => (405, ErrorCode::MethodNotAllowed, "This method is not allowed on this route.".into()),
            Self::InvalidJson(detail) => (400, ErrorCode::InvalidJson, format!("The request body is not valid: {detail}")),
            Self::UnsupportedMediaType => (415, ErrorCode::UnsupportedMediaType, "Send the body as application/json.".into()),
            Self::PayloadTooLarge(limit) => (413, ErrorCode::PayloadTooLarge, format!("The request body is larger than {limit} bytes.")),
            Self::Validation(_) => (422, ErrorCode::ValidationFailed, "Some fields are invalid; see fieldErrors.".into()),
            Self::MissingCredentials(what) => (401, ErrorCode::MissingCredentials, (*what).into()),
            Self::Forbidden(what) => (403, ErrorCode::Forbidden, (*what).into()),
            Self::InvalidToken(reason) => (401, ErrorCode::InvalidToken, reason.message().into()),
            Self::InvalidApiKey => (401, ErrorCode::InvalidApiKey, "The API key is invalid, revoked or expired.".into()),
            Self::ReauthenticationRequired => (403, ErrorCode::ReauthenticationRequired, "This action needs a recent sign-in. Sign in again and retry.".into()),
            Self::DriftChanged => (409, ErrorCode::DriftChanged, "The drift changed since the dry run: run it again and confirm the new plan.".into()),
            Self::StaleUpdate => (409, ErrorCode::StaleUpdate, "The record changed since you read it. Reload it and retry with its new updatedAt.".into()),
            Self::IdempotencyInFlight => (409, ErrorCode::IdempotencyInFlight, "A request with this Idempotency-Key is still in progress. Retry shortly.".into()),
            Self::IdempotencyKeyReused => (422, ErrorCode::IdempotencyKeyReused, "This Idempotency-Key was already used with a different request.".into()),
            Self::InvalidIdempotencyKey => (400, ErrorCode::InvalidIdempotencyKey, "The Idempotency-Key header must be 1–255 printable ASCII characters.".into()),
            Self::SecretAlreadyShown => (409, ErrorCode::SecretAlreadyShown, {
                "This request already succeeded and its secret key was shown; it cannot be shown again. Rotate the key if it was lost.".into()
            }),
            Self::UsageLimitReached { .. } => (429, ErrorCode::UsageLimitReached, "Tier limit reached: the usage allowance for this period is used up.".into()),
            Self::PlanNotConfigured => (409, ErrorCode::PlanNotConfigured, "No tier applies to this end user. Give the project a free tier: POST /v1/projects/{id}/tiers with price 0.".into()),
            Self::InvalidEndUserToken(why) => (401, ErrorCode::InvalidEndUserToken, (*why).into()),
            Self::UnknownEndUser => (404, ErrorCode::UnknownEndUser, "No such end user in this project.".into()),
            Self::DuplicateExternalId => (409, ErrorCode::DuplicateExternalId, "An end user with this externalId already exists in this project.".into()),
            Self::LiveModeInactive => (403, ErrorCode::LiveModeInactive, {
                "Live mode is paused for this project: the developer's Tollgate subscription is not active. Test keys keep working.".into()
            }),
            Self::RateLimited => (429, ErrorCode::RateLimited, "Too many requests for this key or developer. Retry after the time in Retry-After.".into()),
            Self::RateLimitedFor(_) => (429, ErrorCode::RateLimited, "Too many requests for this key or developer. Retry after the time in Retry-After.".into()),
            Self::TooManyAuthFailures(_) => (429, ErrorCode::TooManyAuthFailures, "Too many unknown API keys from this address. Retry after the time in Retry-After.".into()),
            Self::HoldLimitReached => (409, ErrorCode::HoldLimitReached, "You already hold as many units in open carts as this shop lets one buyer hold. Pay for a cart, or wait for one to lapse.".into()),
            Self::GuestCartsFull => (429, ErrorCode::GuestCartsFull, "Too many guest carts are open in this shop right now. Retry later, or sign in.".into()),
            Self::StreamLimitReached => (429, ErrorCode::StreamLimitReached, "This checkout has as many open event streams as it allows. Close one first.".into()),
            Self::InvalidSignature(why) => (400, ErrorCode::InvalidSignature, why.message().into()),
            Self::StorageUnavailable { .. } => (503, ErrorCode::StorageUnavailable, {
                "Tollgate's storage did not answer. Retry shortly; a write sent with an Idempotency-Key is safe to retry.".into()
            }),
            Self::Internal { .. } => (500, ErrorCode::InternalError, {
                "Something went wrong on our side. Quote the request id if you contact support.".into()
            }),
            Self::JwksUnavailable(_) => (500, ErrorCode::InternalError, {
                "Something went wrong on our side. Quote the request id if you contact support.".into()
            }),
            Self::Provider(failure) => provider_entry(&failure.kind),
            Self::InvalidOAuthState => (400, ErrorCode::InvalidOauthState, "The Stripe connection link is invalid, expired or already used. Start the connection again.".into()),
            Self::ConnectBrowserMismatch => (400, ErrorCode::ConnectBrowserMismatch, "Finish connecting Stripe in the browser that started it; this one did not.".into()),
            Self::PriceMismatch => (400, ErrorCode::PriceMismatch, "The priceId is not this tier's price. Send the tier only; prices come from the server.".into()),
            Self::AlreadySubscribed => (409, ErrorCode::AlreadySubscribed, "There is already an active subscription to this plan or tier.".into()),
            Self::SoldOut(names) => (409, ErrorCode::SoldOut, format!("Sold out: {}.", names.join(", "))),
            Self::NoBillingAccount => (404, ErrorCode::NoBillingAccount, "This end user has never paid, so there is no billing account to manage.".into()),
            Self::NoPlanBillingAccount => (404, ErrorCode::NoBillingAccount, {
                "You have no Tollgate plan yet, so there is no billing account to manage: start one with POST /v1/billing/checkout.".into()
            }),
            Self::LengthRequired => (411, ErrorCode::LengthRequired, "Send the file with a Content-Length header.".into()),
            Self::InvalidUpload(why) => (400, ErrorCode::InvalidUpload, (*why).into()),
            Self::UnsupportedFileType(why) => (415, ErrorCode::UnsupportedFileType, (*why).into()),
            Self::EntitlementRequired(why) => (403, ErrorCode::EntitlementRequired, (*why).into()),
            Self::AssetInUse => (409, ErrorCode::AssetInUse, "This asset is a product's or tier's download. Detach it (assetId: null) before deleting it.".into()),
            Self::AlreadyRevoked => (409, ErrorCode::AlreadyRevoked, "This entitlement was already revoked.".into()),
            Self::NotRevocable => (409, ErrorCode::NotRevocable, "A subscription's entitlement ends with the subscription: cancel the subscription instead.".into()),
            Self::NoDownload => (404, ErrorCode::NoDownload, "This product or tier has no downloadable file.".into()),
            Self::DownloadTokenInvalid => (401, ErrorCode::DownloadTokenInvalid, "The download link is invalid. Ask for a new one.".into()),
            Self::DownloadTokenExpired => (410, ErrorCode::DownloadTokenExpired, "The download link has expired. Ask for a new one.".into()),
            Self::RangeNotSatisfiable(size) => (416, ErrorCode::RangeNotSatisfiable, format!("The requested range starts past the end of the file ({size} bytes).")),
            Self::NoSubscription => (404, ErrorCode::NoSubscription, "This end user has no live subscription.".into()),
            Self::SubscriptionNotCanceling => (409, ErrorCode::SubscriptionNotCanceling, "Only a subscription set to cancel at its period's end, and not yet ended, can be resumed.".into()),
            Self::ChangePending => (409, ErrorCode::ChangePending, "A plan change is still being applied; try again once it is.".into()),
            Self::ConnectDeclined => (400, ErrorCode::ConnectDeclined, "The Stripe connection was declined on Stripe's consent screen.".into()),
            Self::StripeAccountInUse => (409, ErrorCode::StripeAccountInUse, "This Stripe account is already connected to another Tollgate account in this mode.".into()),
            Self::ConnectionRequired(Mode::Test) => (428, ErrorCode::StripeConnectionRequired, "Connect a Stripe account in test mode first.".into()),
            Self::ConnectionRequired(Mode::Live) => (428, ErrorCode::LiveConnectionRequired, "Connect a live Stripe account first.".into()),
            Self::WrongProjectType(ProjectType::Saas) => (409, ErrorCode::WrongProjectType, "Tiers belong to SaaS projects; this is a Store project.".into()),
            Self::WrongProjectType(ProjectType::Store) => (409, ErrorCode::WrongProjectType, "Products belong to Store projects; this is a SaaS project.".into()),
            Self::FreeTierExists => (409, ErrorCode::FreeTierExists, "This project already has its free tier; a project has exactly one.".into()),
            Self::FreeTierLocked => (409, ErrorCode::FreeTierLocked, "The free tier cannot be archived or given a price, and a paid tier cannot become free.".into()),
            Self::DuplicateName => (409, ErrorCode::DuplicateName, "A record with this name already exists in this project.".into()),
            Self::Archived => (409, ErrorCode::Archived, "This record is archived and cannot change.".into()),
            Self::AlreadyPromoted => (409, ErrorCode::AlreadyPromoted, "This project was already promoted to live.".into()),
            Self::NotATestProject => (409, ErrorCode::NotATestProject, "Only a test project can be promoted to live.".into()),
            Self::EndpointDisabled => (409, ErrorCode::EndpointDisabled, "This webhook endpoint is disabled: enable it first.".into()),
            Self::EndpointLimitReached => (409, ErrorCode::EndpointLimitReached, "This project already has 16 webhook endpoints: delete one first.".into()),
            // 422, not 429: waiting never lifts a cap, and clients retry a 429 on their own.
            Self::LimitExceeded(exceeded) => (422, ErrorCode::LimitExceeded, exceeded.message()),
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.entry().0
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.entry().1
    }

    /// The message that is safe to show.
    #[must_use]
    pub fn message(&self) -> String {
        self.entry().2
    }

    /// Headers this error adds beyond the common ones.
    fn extra_headers(&self, headers: &Headers) -> worker::Result<()> {
        match self {
            Self::MethodNotAllowed { allow } => {
                let list: Vec<&str> = allow.iter().map(|m| m.as_str()).collect();
                headers.set("Allow", &list.join(", "))?;
            }
            Self::MissingCredentials(_) | Self::InvalidToken(_) => {
                headers.set("WWW-Authenticate", "Bearer")?;
            }
            Self::IdempotencyInFlight | Self::RateLimited | Self::StorageUnavailable { .. } => {
                headers.set("Retry-After", "1")?;
            }
            Self::Provider(failure) if failure.retryable() => headers.set("Retry-After", "2")?,
            Self::GuestCartsFull | Self::StreamLimitReached => headers.set("Retry-After", "60")?,
            Self::RateLimitedFor(retry_after)
            | Self::UsageLimitReached { retry_after, .. }
            | Self::TooManyAuthFailures(retry_after) => {
                headers.set("Retry-After", &retry_after.to_string())?
            }
            Self::RangeNotSatisfiable(size) => {
                headers.set("Content-Range", &format!("bytes */{size}"))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The response for this error; logs internal causes under the request id.
    ///
    /// # Errors
    /// Fails only if the runtime cannot build a response.
    pub fn into_response(self, request_id: &RequestId) -> worker::Result<Response> {
        match &self {
            Self::Internal { cause } | Self::JwksUnavailable(cause) => {
                log::error(request_id, "internal_error", cause);
            }
            Self::StorageUnavailable { cause } => {
                log::error(request_id, "storage_unavailable", cause)
            }
            _ => {}
        }
        if let Self::Provider(failure) = &self {
            log::warn(request_id, "payment_provider", &failure.detail);
        }
        let message = self.message();
        let sold_out;
        let field_errors = match &self {
            Self::Validation(fields) => Some(fields),
            Self::SoldOut(names) => {
                sold_out = BTreeMap::from([(
                    "items".to_owned(),
                    names.iter().map(|n| format!("{n} is sold out")).collect(),
                )]);
                Some(&sold_out)
            }
            _ => None,
        };
        let usage = match &self {
            Self::UsageLimitReached { usage, .. } => Some(usage.as_ref()),
            _ => None,
        };
        let body = ErrorBody {
            error: &message,
            code: self.code(),
            field_errors,
            request_id: request_id.as_str(),
            allowed: usage.map(|_| false),
            usage,
        };
        let response = Response::from_json(&body)?.with_status(self.status());
        self.extra_headers(response.headers())?;
        Ok(response)
    }
}

/// The payment provider's failures in the same table's shape.
fn provider_entry(kind: &ProviderErrorKind) -> (u16, ErrorCode, String) {
    match kind {
        ProviderErrorKind::CardDeclined { message } => (402, ErrorCode::PaymentFailed, message.clone()),
        ProviderErrorKind::InvalidRequest => (400, ErrorCode::PaymentProviderRejected, "The payment provider refused the request. Quote the request id if you contact support.".into()),
        ProviderErrorKind::Missing => (400, ErrorCode::PaymentProviderRejected, "The payment provider no longer has an object this request needs. Quote the request id if you contact support.".into()),
        ProviderErrorKind::OAuthGrantInvalid => (400, ErrorCode::OauthCodeInvalid, "The Stripe authorization code is invalid, used or expired. Start the connection again.".into()),
        ProviderErrorKind::AccountUnavailable => (409, ErrorCode::StripeAccountUnavailable, "The connected Stripe account no longer grants Tollgate access. Reconnect it.".into()),
        ProviderErrorKind::Misconfigured => (502, ErrorCode::PaymentProviderMisconfigured, "The payment provider refused Tollgate's credentials. This is on our side; quote the request id.".into()),
        ProviderErrorKind::Unavailable => (502, ErrorCode::PaymentProviderUnavailable, "The payment provider did not answer. Retry shortly with the same Idempotency-Key.".into()),
        ProviderErrorKind::Unexpected => (502, ErrorCode::PaymentProviderError, "The payment provider answered unexpectedly. Quote the request id if you contact support.".into()),
    }
}

impl From<worker::Error> for ApiError {
    fn from(err: worker::Error) -> Self {
        if let worker::Error::D1(d1) = &err {
            let message = String::from(AsRef::<js_sys::Error>::as_ref(d1).message());
            if storage_unreachable(&message) {
                return Self::StorageUnavailable { cause: message };
            }
        }
        Self::internal(err.to_string())
    }
}

/// Whether a D1 error says the database could not be reached or did not answer, as opposed
/// to refusing a statement (a constraint, a syntax error), which is our bug and stays a 500.
/// The phrases are the runtime's own for lost connections, overload, resets and timeouts.
fn storage_unreachable(message: &str) -> bool {
    const PHRASES: [&str; 7] = [
        "network connection lost",
        "overloaded",
        "internal error",
        "exceeded timeout",
        "object to be reset",
        "transient issue",
        "unavailable",
    ];
    let message = message.to_ascii_lowercase();
    PHRASES.iter().any(|phrase| message.contains(phrase))
}

impl From<worker::kv::KvError> for ApiError {
    fn from(err: worker::kv::KvError) -> Self {
        Self::internal(format!("kv: {err}"))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        Self::internal(format!("json: {err}"))
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        Self::InvalidToken(err)
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
                ApiError::InvalidJson("x".into()),
                400,
                ErrorCode::InvalidJson,
            ),
            (
                ApiError::UnsupportedMediaType,
                415,
                ErrorCode::UnsupportedMediaType,
            ),
            (
                ApiError::PayloadTooLarge(10),
                413,
                ErrorCode::PayloadTooLarge,
            ),
            (
                ApiError::field("name", "bad"),
                422,
                ErrorCode::ValidationFailed,
            ),
            (
                ApiError::MissingCredentials("m"),
                401,
                ErrorCode::MissingCredentials,
            ),
            (
                ApiError::InvalidToken(TokenError::Expired),
                401,
                ErrorCode::InvalidToken,
            ),
            (ApiError::InvalidApiKey, 401, ErrorCode::InvalidApiKey),
            (
                ApiError::TooManyAuthFailures(30),
                429,
                ErrorCode::TooManyAuthFailures,
            ),
            (
                ApiError::ReauthenticationRequired,
                403,
                ErrorCode::ReauthenticationRequired,
            ),
            (ApiError::Forbidden("f"), 403, ErrorCode::Forbidden),
            (ApiError::RateLimitedFor(9), 429, ErrorCode::RateLimited),
            (ApiError::HoldLimitReached, 409, ErrorCode::HoldLimitReached),
            (ApiError::GuestCartsFull, 429, ErrorCode::GuestCartsFull),
            (
                ApiError::StreamLimitReached,
                429,
                ErrorCode::StreamLimitReached,
            ),
            (ApiError::StaleUpdate, 409, ErrorCode::StaleUpdate),
            (ApiError::DriftChanged, 409, ErrorCode::DriftChanged),
            (ApiError::EndpointDisabled, 409, ErrorCode::EndpointDisabled),
            (
                ApiError::EndpointLimitReached,
                409,
                ErrorCode::EndpointLimitReached,
            ),
            (
                ApiError::IdempotencyInFlight,
                409,
                ErrorCode::IdempotencyInFlight,
            ),
            (
                ApiError::IdempotencyKeyReused,
                422,
                ErrorCode::IdempotencyKeyReused,
            ),
            (
                ApiError::InvalidIdempotencyKey,
                400,
                ErrorCode::InvalidIdempotencyKey,
            ),
            (
                ApiError::SecretAlreadyShown,
                409,
                ErrorCode::SecretAlreadyShown,
            ),
            (
                ApiError::InvalidSignature(SignatureError::NoMatch),
                400,
                ErrorCode::InvalidSignature,
            ),
            (
                ApiError::internal("db exploded"),
                500,
                ErrorCode::InternalError,
            ),
            (ApiError::LengthRequired, 411, ErrorCode::LengthRequired),
            (
                ApiError::UnsupportedFileType("t"),
                415,
                ErrorCode::UnsupportedFileType,
            ),
            (ApiError::AssetInUse, 409, ErrorCode::AssetInUse),
            (
                ApiError::EntitlementRequired("e"),
                403,
                ErrorCode::EntitlementRequired,
            ),
            (ApiError::AlreadyRevoked, 409, ErrorCode::AlreadyRevoked),
            (
                ApiError::DownloadTokenInvalid,
                401,
                ErrorCode::DownloadTokenInvalid,
            ),
            (
                ApiError::DownloadTokenExpired,
                410,
                ErrorCode::DownloadTokenExpired,
            ),
            (
                ApiError::RangeNotSatisfiable(10),
                416,
                ErrorCode::RangeNotSatisfiable,
            ),
            (
                ApiError::StorageUnavailable {
                    cause: "D1_ERROR: Network connection lost.".into(),
                },
                503,
                ErrorCode::StorageUnavailable,
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

    #[test]
    fn a_d1_error_counts_as_unreachable_only_when_the_database_did_not_answer() {
        let cases = [
            ("D1_ERROR: Network connection lost.", true),
            ("D1 DB is overloaded. Too many requests queued.", true),
            ("D1_ERROR: internal error", true),
            (
                "D1 DB storage operation exceeded timeout which caused object to be reset.",
                true,
            ),
            (
                "D1_ERROR: Cannot resolve D1 DB due to transient issue on remote node.",
                true,
            ),
            (
                "D1_ERROR: UNIQUE constraint failed: end_users.external_id",
                false,
            ),
            ("D1_ERROR: no such table: projects: SQLITE_ERROR", false),
            (
                "D1_TYPE_ERROR: Type 'object' not supported for value",
                false,
            ),
        ];
        for (message, unreachable) in cases {
            assert_eq!(storage_unreachable(message), unreachable, "{message}");
        }
    }

    #[test]
    fn the_storage_message_never_contains_the_cause() {
        let error = ApiError::StorageUnavailable {
            cause: "D1_ERROR: Network connection lost. (SELECT key_hash FROM api_keys)".into(),
        };
        assert!(!error.message().contains("api_keys"));
        assert!(error.message().contains("Retry"));
    }
}
