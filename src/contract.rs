//! Wire shapes shared by every worker: the error envelope, its stable codes, and health.
//!
//! These types mirror `schemas/openapi.yaml`; the integration suite validates every body
//! the workers send against that file, so a change here without the spec fails the build.

use serde::Serialize;
use std::collections::BTreeMap;

/// Stable, machine-readable error codes. Clients branch on these, never on messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No route or resource answers to this path (also: another tenant's resource).
    NotFound,
    /// The path exists but not with this method.
    MethodNotAllowed,
    /// The body is not JSON, has the wrong types, or names a field the route does not take.
    InvalidJson,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// Some fields are invalid; `fieldErrors` says which and why.
    ValidationFailed,
    /// No credential was sent, or it is not of the kind this route takes.
    MissingCredentials,
    /// The bearer token was refused (bad signature, expired, wrong issuer or audience…).
    InvalidToken,
    /// The API key is malformed, unknown, revoked, expired, or its project was deleted.
    InvalidApiKey,
    /// This write needs a recent sign-in: sign in again and retry.
    ReauthenticationRequired,
    /// The credential is valid but may not use this route.
    Forbidden,
    /// The record changed since the `updatedAt` the caller sent.
    StaleUpdate,
    /// The entitlement drift changed since the dry run that gave the `confirmation`: audit again.
    DriftChanged,
    /// A request with this `Idempotency-Key` is still being processed.
    IdempotencyInFlight,
    /// This `Idempotency-Key` was used with a different request.
    IdempotencyKeyReused,
    /// The `Idempotency-Key` header is malformed.
    InvalidIdempotencyKey,
    /// The secret this request created was already shown and cannot be shown again.
    SecretAlreadyShown,
    /// The end user used up their plan's allowance for this period (`Retry-After` says when
    /// the next period starts).
    UsageLimitReached,
    /// No tier applies to this end user: give the project a default tier.
    PlanNotConfigured,
    /// The end-user token is missing, invalid, expired, revoked or for another project.
    InvalidEndUserToken,
    /// The end user is unknown in this project.
    UnknownEndUser,
    /// An end user with this external id already exists in the project.
    DuplicateExternalId,
    /// Live keys are paused: the developer's Tollgate subscription is not active.
    LiveModeInactive,
    /// Too many requests for this key (per second); `Retry-After` says when to retry.
    RateLimited,
    /// This client address spent its budget of failed key lookups for the window;
    /// `Retry-After` says when it refills. Keys this isolate already served still work.
    TooManyAuthFailures,
    /// The payer's card or payment method was declined; the message is the provider's.
    PaymentFailed,
    /// The payment provider refused the request (stale catalog data, say).
    PaymentProviderRejected,
    /// The payment provider refused Tollgate's credentials; an operator must fix them.
    PaymentProviderMisconfigured,
    /// The payment provider did not answer or was unavailable; retry shortly.
    PaymentProviderUnavailable,
    /// Tollgate's database did not answer; retry shortly (`Retry-After`).
    StorageUnavailable,
    /// The payment provider answered something unexpected; the cause is logged.
    PaymentProviderError,
    /// The connected Stripe account no longer grants access: reconnect it.
    StripeAccountUnavailable,
    /// The Connect authorization code was unknown, already used or expired.
    OauthCodeInvalid,
    /// The developer declined the connection on Stripe's consent screen.
    ConnectDeclined,
    /// The Connect `state` is unknown, tampered with, expired or already used.
    InvalidOauthState,
    /// The Connect round trip is being finished in a browser that did not start it.
    ConnectBrowserMismatch,
    /// The Stripe account is already connected to another Tollgate platform.
    StripeAccountInUse,
    /// Connect a Stripe account for the project's mode first (test mode).
    StripeConnectionRequired,
    /// Connect a live Stripe account first.
    LiveConnectionRequired,
    /// The project's type does not have this (tiers are SaaS, products are Store).
    WrongProjectType,
    /// The project already has its free tier.
    FreeTierExists,
    /// The free tier can be edited but not archived or made paid; paid tiers cannot become free.
    FreeTierLocked,
    /// A tier or product with this name already exists in the project.
    DuplicateName,
    /// The record is archived and cannot change.
    Archived,
    /// The project was already promoted to live.
    AlreadyPromoted,
    /// Only test projects can be promoted.
    NotATestProject,
    /// A `Stripe-Signature` header did not verify over the body (malformed, unsigned, too
    /// old, or signed under another secret).
    InvalidSignature,
    /// The `priceId` sent is not the tier's price: prices come from the server.
    PriceMismatch,
    /// The end user already holds an active subscription to this tier.
    AlreadySubscribed,
    /// Some items are sold out; the message and `fieldErrors.items` name them.
    SoldOut,
    /// The buyer already holds as many units in open carts as the project allows one buyer.
    HoldLimitReached,
    /// The project has as many open guest carts as it keeps; retry later or sign in.
    GuestCartsFull,
    /// The checkout session has as many open event streams as it allows.
    StreamLimitReached,
    /// The end user never paid, so there is no billing account to manage.
    NoBillingAccount,
    /// An upload without `Content-Length`: uploads stream with a declared length.
    LengthRequired,
    /// The upload's body is empty or does not match its `Content-Length`.
    InvalidUpload,
    /// The file's bytes are not a type this upload takes (public assets: png, jpeg, webp or
    /// gif, judged by the bytes, never by `Content-Type`).
    UnsupportedFileType,
    /// The asset is a product's or tier's download: detach it first.
    AssetInUse,
    /// The end user holds no active entitlement to this file (never bought it, or it was
    /// revoked, or the subscription lapsed).
    EntitlementRequired,
    /// The entitlement was already revoked.
    AlreadyRevoked,
    /// A subscription's entitlement ends with the subscription; cancel that instead.
    NotRevocable,
    /// The product or tier has no downloadable file attached.
    NoDownload,
    /// The download token is malformed, altered or not Tollgate's.
    DownloadTokenInvalid,
    /// The download token's five minutes are over: ask for a new URL.
    DownloadTokenExpired,
    /// The `Range` starts past the end of the file.
    RangeNotSatisfiable,
    /// The end user holds no live subscription to manage.
    NoSubscription,
    /// Resume needs a subscription set to cancel at its period's end and not yet ended.
    SubscriptionNotCanceling,
    /// A plan change the provider accepted is not applied here yet.
    ChangePending,
    /// The webhook endpoint is disabled: enable it before resending to it.
    EndpointDisabled,
    /// The project already has the most webhook endpoints it may have (16).
    EndpointLimitReached,
    /// A create would pass a per-tenant cap (projects, end users, catalog items, assets);
    /// the message names the cap.
    LimitExceeded,
    /// Something failed inside Tollgate; the cause is logged under the request id.
    InternalError,
}

/// The body of every error response: `{ error, code, fieldErrors?, requestId }`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody<'a> {
    /// A message that is safe to show; never internal detail.
    pub error: &'a str,
    /// The stable code.
    pub code: ErrorCode,
    /// Per-field problems, for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_errors: Option<&'a BTreeMap<String, Vec<String>>>,
    /// The id to quote when asking about this request.
    pub request_id: &'a str,
    /// For `usage_limit_reached`: always `false` (dream-api's callers read it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    /// For `usage_limit_reached`: the usage object at the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<&'a crate::usage::Usage>,
}

/// Whether a worker and what it depends on answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything checked answered.
    Ok,
    /// The worker runs but a storage binding it checked did not answer.
    Degraded,
}

/// One storage probe's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageCheck {
    /// The binding answered.
    Ok,
    /// The binding is missing or failed.
    Error,
}

/// The storage probes the `api` worker reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StorageChecks {
    /// The D1 database.
    pub d1: StorageCheck,
    /// The KV namespace.
    pub kv: StorageCheck,
    /// The R2 bucket.
    pub r2: StorageCheck,
}

impl StorageChecks {
    /// `Ok` only when every probe answered.
    #[must_use]
    pub fn status(&self) -> HealthStatus {
        if [self.d1, self.kv, self.r2]
            .iter()
            .all(|c| *c == StorageCheck::Ok)
        {
            HealthStatus::Ok
        } else {
            HealthStatus::Degraded
        }
    }
}

/// The body of `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health<'a> {
    /// Overall status.
    pub status: HealthStatus,
    /// The worker's name (`platform`, `catalog`, `api`, `webhooks`, `meter`, `stripe-sandbox`, `gateway`).
    pub worker: &'a str,
    /// The worker crate's version.
    pub version: &'a str,
    /// Storage probes, for workers that report them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<StorageChecks>,
}

impl<'a> Health<'a> {
    /// Health of a worker that checks nothing beyond answering.
    #[must_use]
    pub fn alive(worker: &'a str, version: &'a str) -> Self {
        Self {
            status: HealthStatus::Ok,
            worker,
            version,
            checks: None,
        }
    }

    /// Health with storage probes; degraded when any probe failed.
    #[must_use]
    pub fn with_checks(worker: &'a str, version: &'a str, checks: StorageChecks) -> Self {
        Self {
            status: checks.status(),
            worker,
            version,
            checks: Some(checks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_error_body_uses_camel_case_and_omits_absent_field_errors() {
        let body = ErrorBody {
            error: "Not found",
            code: ErrorCode::NotFound,
            field_errors: None,
            request_id: "req_1",
            allowed: None,
            usage: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({ "error": "Not found", "code": "not_found", "requestId": "req_1" })
        );
    }

    #[test]
    fn field_errors_are_keyed_by_field() {
        let fields = BTreeMap::from([("name".to_owned(), vec!["is required".to_owned()])]);
        let body = ErrorBody {
            error: "Invalid fields",
            code: ErrorCode::ValidationFailed,
            field_errors: Some(&fields),
            request_id: "r",
            allowed: None,
            usage: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap()["fieldErrors"],
            json!({ "name": ["is required"] })
        );
    }

    #[test]
    fn health_is_degraded_when_any_storage_probe_fails() {
        let all_ok = StorageChecks {
            d1: StorageCheck::Ok,
            kv: StorageCheck::Ok,
            r2: StorageCheck::Ok,
        };
        assert_eq!(
            Health::with_checks("api", "0.1.0", all_ok).status,
            HealthStatus::Ok
        );
        for broken in [
            StorageChecks {
                d1: StorageCheck::Error,
                ..all_ok
            },
            StorageChecks {
                kv: StorageCheck::Error,
                ..all_ok
            },
            StorageChecks {
                r2: StorageCheck::Error,
                ..all_ok
            },
        ] {
            assert_eq!(
                Health::with_checks("api", "0.1.0", broken).status,
                HealthStatus::Degraded
            );
        }
    }

    #[test]
    fn plain_health_has_no_checks_field() {
        assert_eq!(
            serde_json::to_value(Health::alive("platform", "1.2.3")).unwrap(),
            json!({ "status": "ok", "worker": "platform", "version": "1.2.3" })
        );
    }
}

/// A list page: `{ data, total, page, pageSize }`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPage<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// Items in the whole list.
    pub total: u64,
    /// This page's number (1-based).
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
}

/// A single resource: `{ data }`.
#[derive(Debug, Serialize)]
pub struct Detail<T> {
    /// The resource.
    pub data: T,
}
