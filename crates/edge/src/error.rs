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

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidJson(_) | Self::InvalidIdempotencyKey | Self::InvalidSignature(_) => 400,
            Self::MissingCredentials(_)
            | Self::InvalidToken(_)
            | Self::InvalidApiKey
            | Self::InvalidEndUserToken(_) => 401,
            Self::ReauthenticationRequired | Self::Forbidden(_) | Self::LiveModeInactive => 403,
            Self::RateLimited
            | Self::RateLimitedFor(_)
            | Self::TooManyAuthFailures(_)
            | Self::GuestCartsFull
            | Self::StreamLimitReached => 429,
            Self::HoldLimitReached => 409,
            Self::NotFound | Self::ServedElsewhere(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::StaleUpdate
            | Self::DriftChanged
            | Self::IdempotencyInFlight
            | Self::SecretAlreadyShown
            | Self::PlanNotConfigured
            | Self::DuplicateExternalId => 409,
            Self::UnknownEndUser => 404,
            Self::UsageLimitReached { .. } => 429,
            Self::PayloadTooLarge(_) => 413,
            Self::UnsupportedMediaType => 415,
            // 422, not 429: waiting never lifts a cap, and clients retry a 429 on their own.
            Self::Validation(_) | Self::IdempotencyKeyReused | Self::LimitExceeded(_) => 422,
            Self::Internal { .. } | Self::JwksUnavailable(_) => 500,
            Self::StorageUnavailable { .. } => 503,
            Self::Provider(failure) => match failure.kind {
                ProviderErrorKind::CardDeclined { .. } => 402,
                ProviderErrorKind::InvalidRequest
                | ProviderErrorKind::Missing
                | ProviderErrorKind::OAuthGrantInvalid => 400,
                ProviderErrorKind::AccountUnavailable => 409,
                ProviderErrorKind::Misconfigured
                | ProviderErrorKind::Unavailable
                | ProviderErrorKind::Unexpected => 502,
            },
            Self::InvalidOAuthState
            | Self::ConnectBrowserMismatch
            | Self::ConnectDeclined
            | Self::PriceMismatch => 400,
            Self::AlreadySubscribed | Self::SoldOut(_) => 409,
            Self::NoBillingAccount
            | Self::NoPlanBillingAccount
            | Self::NoDownload
            | Self::NoSubscription => 404,
            Self::LengthRequired => 411,
            Self::InvalidUpload(_) => 400,
            Self::UnsupportedFileType(_) => 415,
            Self::AssetInUse | Self::AlreadyRevoked | Self::NotRevocable => 409,
            Self::EntitlementRequired(_) => 403,
            Self::DownloadTokenInvalid => 401,
            Self::DownloadTokenExpired => 410,
            Self::RangeNotSatisfiable(_) => 416,
            Self::SubscriptionNotCanceling | Self::ChangePending => 409,
            Self::ConnectionRequired(_) => 428,
            Self::StripeAccountInUse
            | Self::WrongProjectType(_)
            | Self::FreeTierExists
            | Self::FreeTierLocked
            | Self::DuplicateName
            | Self::Archived
            | Self::AlreadyPromoted
            | Self::NotATestProject
            | Self::EndpointDisabled
            | Self::EndpointLimitReached => 409,
        }
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound | Self::ServedElsewhere(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::InvalidJson(_) => ErrorCode::InvalidJson,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::MissingCredentials(_) => ErrorCode::MissingCredentials,
            Self::InvalidToken(_) => ErrorCode::InvalidToken,
            Self::InvalidApiKey => ErrorCode::InvalidApiKey,
            Self::ReauthenticationRequired => ErrorCode::ReauthenticationRequired,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::StaleUpdate => ErrorCode::StaleUpdate,
            Self::DriftChanged => ErrorCode::DriftChanged,
            Self::IdempotencyInFlight => ErrorCode::IdempotencyInFlight,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::InvalidIdempotencyKey => ErrorCode::InvalidIdempotencyKey,
            Self::SecretAlreadyShown => ErrorCode::SecretAlreadyShown,
            Self::UsageLimitReached { .. } => ErrorCode::UsageLimitReached,
            Self::PlanNotConfigured => ErrorCode::PlanNotConfigured,
            Self::InvalidEndUserToken(_) => ErrorCode::InvalidEndUserToken,
            Self::UnknownEndUser => ErrorCode::UnknownEndUser,
            Self::DuplicateExternalId => ErrorCode::DuplicateExternalId,
            Self::LiveModeInactive => ErrorCode::LiveModeInactive,
            Self::RateLimited | Self::RateLimitedFor(_) => ErrorCode::RateLimited,
            Self::TooManyAuthFailures(_) => ErrorCode::TooManyAuthFailures,
            Self::HoldLimitReached => ErrorCode::HoldLimitReached,
            Self::GuestCartsFull => ErrorCode::GuestCartsFull,
            Self::StreamLimitReached => ErrorCode::StreamLimitReached,
            Self::InvalidSignature(_) => ErrorCode::InvalidSignature,
            Self::Internal { .. } | Self::JwksUnavailable(_) => ErrorCode::InternalError,
            Self::StorageUnavailable { .. } => ErrorCode::StorageUnavailable,
            Self::Provider(failure) => match failure.kind {
                ProviderErrorKind::CardDeclined { .. } => ErrorCode::PaymentFailed,
                ProviderErrorKind::InvalidRequest | ProviderErrorKind::Missing => {
                    ErrorCode::PaymentProviderRejected
                }
                ProviderErrorKind::OAuthGrantInvalid => ErrorCode::OauthCodeInvalid,
                ProviderErrorKind::AccountUnavailable => ErrorCode::StripeAccountUnavailable,
                ProviderErrorKind::Misconfigured => ErrorCode::PaymentProviderMisconfigured,
                ProviderErrorKind::Unavailable => ErrorCode::PaymentProviderUnavailable,
                ProviderErrorKind::Unexpected => ErrorCode::PaymentProviderError,
            },
            Self::InvalidOAuthState => ErrorCode::InvalidOauthState,
            Self::ConnectBrowserMismatch => ErrorCode::ConnectBrowserMismatch,
            Self::PriceMismatch => ErrorCode::PriceMismatch,
            Self::AlreadySubscribed => ErrorCode::AlreadySubscribed,
            Self::SoldOut(_) => ErrorCode::SoldOut,
            Self::NoBillingAccount | Self::NoPlanBillingAccount => ErrorCode::NoBillingAccount,
            Self::LengthRequired => ErrorCode::LengthRequired,
            Self::InvalidUpload(_) => ErrorCode::InvalidUpload,
            Self::UnsupportedFileType(_) => ErrorCode::UnsupportedFileType,
            Self::AssetInUse => ErrorCode::AssetInUse,
            Self::EntitlementRequired(_) => ErrorCode::EntitlementRequired,
            Self::AlreadyRevoked => ErrorCode::AlreadyRevoked,
            Self::NotRevocable => ErrorCode::NotRevocable,
            Self::NoDownload => ErrorCode::NoDownload,
            Self::DownloadTokenInvalid => ErrorCode::DownloadTokenInvalid,
            Self::DownloadTokenExpired => ErrorCode::DownloadTokenExpired,
            Self::RangeNotSatisfiable(_) => ErrorCode::RangeNotSatisfiable,
            Self::NoSubscription => ErrorCode::NoSubscription,
            Self::SubscriptionNotCanceling => ErrorCode::SubscriptionNotCanceling,
            Self::ChangePending => ErrorCode::ChangePending,
            Self::ConnectDeclined => ErrorCode::ConnectDeclined,
            Self::StripeAccountInUse => ErrorCode::StripeAccountInUse,
            Self::ConnectionRequired(Mode::Test) => ErrorCode::StripeConnectionRequired,
            Self::ConnectionRequired(Mode::Live) => ErrorCode::LiveConnectionRequired,
            Self::WrongProjectType(_) => ErrorCode::WrongProjectType,
            Self::FreeTierExists => ErrorCode::FreeTierExists,
            Self::FreeTierLocked => ErrorCode::FreeTierLocked,
            Self::DuplicateName => ErrorCode::DuplicateName,
            Self::Archived => ErrorCode::Archived,
            Self::AlreadyPromoted => ErrorCode::AlreadyPromoted,
            Self::NotATestProject => ErrorCode::NotATestProject,
            Self::EndpointDisabled => ErrorCode::EndpointDisabled,
            Self::EndpointLimitReached => ErrorCode::EndpointLimitReached,
            Self::LimitExceeded(_) => ErrorCode::LimitExceeded,
        }
    }

    /// The message that is safe to show.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::NotFound => "No such resource or route.".into(),
            Self::ServedElsewhere(worker) => format!(
                "No such route on this worker: the {worker} worker serves this path. Call it there, or through the one base URL, which routes every path."
            ),
            Self::MethodNotAllowed { .. } => "This method is not allowed on this route.".into(),
            Self::InvalidJson(detail) => format!("The request body is not valid: {detail}"),
            Self::UnsupportedMediaType => "Send the body as application/json.".into(),
            Self::PayloadTooLarge(limit) => format!("The request body is larger than {limit} bytes."),
            Self::Validation(_) => "Some fields are invalid; see fieldErrors.".into(),
            Self::MissingCredentials(what) | Self::Forbidden(what) => (*what).into(),
            Self::InvalidToken(reason) => reason.message().into(),
            Self::InvalidApiKey => "The API key is invalid, revoked or expired.".into(),
            Self::ReauthenticationRequired => "This action needs a recent sign-in. Sign in again and retry.".into(),
            Self::DriftChanged => "The drift changed since the dry run: run it again and confirm the new plan.".into(),
            Self::StaleUpdate => "The record changed since you read it. Reload it and retry with its new updatedAt.".into(),
            Self::IdempotencyInFlight => "A request with this Idempotency-Key is still in progress. Retry shortly.".into(),
            Self::IdempotencyKeyReused => "This Idempotency-Key was already used with a different request.".into(),
            Self::InvalidIdempotencyKey => "The Idempotency-Key header must be 1–255 printable ASCII characters.".into(),
            Self::SecretAlreadyShown => {
                "This request already succeeded and its secret key was shown; it cannot be shown again. Rotate the key if it was lost.".into()
            }
            Self::UsageLimitReached { .. } => "Tier limit reached: the usage allowance for this period is used up.".into(),
            Self::PlanNotConfigured => "No tier applies to this end user. Give the project a free tier: POST /v1/projects/{id}/tiers with price 0.".into(),
            Self::InvalidEndUserToken(why) => (*why).into(),
            Self::UnknownEndUser => "No such end user in this project.".into(),
            Self::DuplicateExternalId => "An end user with this externalId already exists in this project.".into(),
            Self::LiveModeInactive => {
                "Live mode is paused for this project: the developer's Tollgate subscription is not active. Test keys keep working.".into()
            }
            Self::RateLimited | Self::RateLimitedFor(_) => "Too many requests for this key or developer. Retry after the time in Retry-After.".into(),
            Self::TooManyAuthFailures(_) => "Too many unknown API keys from this address. Retry after the time in Retry-After.".into(),
            Self::HoldLimitReached => "You already hold as many units in open carts as this shop lets one buyer hold. Pay for a cart, or wait for one to lapse.".into(),
            Self::GuestCartsFull => "Too many guest carts are open in this shop right now. Retry later, or sign in.".into(),
            Self::StreamLimitReached => "This checkout has as many open event streams as it allows. Close one first.".into(),
            Self::InvalidSignature(why) => why.message().into(),
            Self::StorageUnavailable { .. } => {
                "Tollgate's storage did not answer. Retry shortly; a write sent with an Idempotency-Key is safe to retry.".into()
            }
            Self::Internal { .. } | Self::JwksUnavailable(_) => {
                "Something went wrong on our side. Quote the request id if you contact support.".into()
            }
            Self::Provider(failure) => match &failure.kind {
                ProviderErrorKind::CardDeclined { message } => message.clone(),
                ProviderErrorKind::InvalidRequest => "The payment provider refused the request. Quote the request id if you contact support.".into(),
                ProviderErrorKind::Missing => "The payment provider no longer has an object this request needs. Quote the request id if you contact support.".into(),
                ProviderErrorKind::OAuthGrantInvalid => "The Stripe authorization code is invalid, used or expired. Start the connection again.".into(),
                ProviderErrorKind::AccountUnavailable => "The connected Stripe account no longer grants Tollgate access. Reconnect it.".into(),
                ProviderErrorKind::Misconfigured => "The payment provider refused Tollgate's credentials. This is on our side; quote the request id.".into(),
                ProviderErrorKind::Unavailable => "The payment provider did not answer. Retry shortly with the same Idempotency-Key.".into(),
                ProviderErrorKind::Unexpected => "The payment provider answered unexpectedly. Quote the request id if you contact support.".into(),
            },
            Self::InvalidOAuthState => "The Stripe connection link is invalid, expired or already used. Start the connection again.".into(),
            Self::ConnectBrowserMismatch => "Finish connecting Stripe in the browser that started it; this one did not.".into(),
            Self::PriceMismatch => "The priceId is not this tier's price. Send the tier only; prices come from the server.".into(),
            Self::AlreadySubscribed => "There is already an active subscription to this plan or tier.".into(),
            Self::SoldOut(names) => format!("Sold out: {}.", names.join(", ")),
            Self::NoBillingAccount => "This end user has never paid, so there is no billing account to manage.".into(),
            Self::NoPlanBillingAccount => {
                "You have no Tollgate plan yet, so there is no billing account to manage: start one with POST /v1/billing/checkout.".into()
            }
            Self::LengthRequired => "Send the file with a Content-Length header.".into(),
            Self::InvalidUpload(why)
            | Self::UnsupportedFileType(why)
            | Self::EntitlementRequired(why) => (*why).into(),
            Self::AssetInUse => "This asset is a product's or tier's download. Detach it (assetId: null) before deleting it.".into(),
            Self::AlreadyRevoked => "This entitlement was already revoked.".into(),
            Self::NotRevocable => "A subscription's entitlement ends with the subscription: cancel the subscription instead.".into(),
            Self::NoDownload => "This product or tier has no downloadable file.".into(),
            Self::DownloadTokenInvalid => "The download link is invalid. Ask for a new one.".into(),
            Self::DownloadTokenExpired => "The download link has expired. Ask for a new one.".into(),
            Self::RangeNotSatisfiable(size) => format!("The requested range starts past the end of the file ({size} bytes)."),
            Self::NoSubscription => "This end user has no live subscription.".into(),
            Self::SubscriptionNotCanceling => "Only a subscription set to cancel at its period's end, and not yet ended, can be resumed.".into(),
            Self::ChangePending => "A plan change is still being applied; try again once it is.".into(),
            Self::ConnectDeclined => "The Stripe connection was declined on Stripe's consent screen.".into(),
            Self::StripeAccountInUse => "This Stripe account is already connected to another Tollgate account in this mode.".into(),
            Self::ConnectionRequired(Mode::Test) => "Connect a Stripe account in test mode first.".into(),
            Self::ConnectionRequired(Mode::Live) => "Connect a live Stripe account first.".into(),
            Self::WrongProjectType(ProjectType::Saas) => "Tiers belong to SaaS projects; this is a Store project.".into(),
            Self::WrongProjectType(ProjectType::Store) => "Products belong to Store projects; this is a SaaS project.".into(),
            Self::FreeTierExists => "This project already has its free tier; a project has exactly one.".into(),
            Self::FreeTierLocked => "The free tier cannot be archived or given a price, and a paid tier cannot become free.".into(),
            Self::DuplicateName => "A record with this name already exists in this project.".into(),
            Self::Archived => "This record is archived and cannot change.".into(),
            Self::AlreadyPromoted => "This project was already promoted to live.".into(),
            Self::NotATestProject => "Only a test project can be promoted to live.".into(),
            Self::EndpointDisabled => "This webhook endpoint is disabled: enable it first.".into(),
            Self::EndpointLimitReached => "This project already has 16 webhook endpoints: delete one first.".into(),
            Self::LimitExceeded(exceeded) => exceeded.message(),
        }
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
