//! Sends [`tollgate::stripe::Call`]s to Stripe (or the local sandbox) with the platform's key
//! for the mode, a per-attempt timeout, and retries only where a repeat is harmless.

use crate::ApiError;
use futures_util::future::{Either, select};
use serde::de::DeserializeOwned;
use std::pin::pin;
use std::time::Duration;
use tollgate::Mode;
use tollgate::stripe::calls::Host;
use tollgate::stripe::{Call, ProviderError};
use worker::{Delay, Env, Fetch, Headers, Method, Request, RequestInit};

/// How long one attempt may take before it counts as unavailable.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Waits before the second and third attempts; Stripe's own clients back off similarly.
const BACKOFF: [Duration; 2] = [Duration::from_millis(250), Duration::from_millis(1000)];

/// The platform's Stripe credentials for one mode, and where Stripe is.
#[derive(Clone)]
pub struct StripeClient {
    api_base: String,
    connect_base: String,
    secret_key: String,
    client_id: Option<String>,
    /// The mode the key belongs to.
    pub mode: Mode,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of every debug print.
        f.debug_struct("StripeClient")
            .field("api_base", &self.api_base)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

fn misconfigured(detail: impl Into<String>) -> ApiError {
    ApiError::Provider(ProviderError {
        kind: tollgate::stripe::ProviderErrorKind::Misconfigured,
        status: None,
        detail: detail.into(),
    })
}

impl StripeClient {
    /// Reads `STRIPE_SECRET_KEY_{TEST,LIVE}`, `STRIPE_CLIENT_ID_{TEST,LIVE}` and the bases
    /// (`STRIPE_API_BASE`, `STRIPE_CONNECT_BASE`; Stripe's own when unset).
    ///
    /// # Errors
    /// `payment_provider_misconfigured` when the key for the mode is missing or does not
    /// belong to the mode: a test key must never act for a live project.
    pub fn from_env(env: &Env, mode: Mode) -> Result<Self, ApiError> {
        let suffix = match mode {
            Mode::Test => "TEST",
            Mode::Live => "LIVE",
        };
        let secret = |name: &str| env.secret(name).ok().map(|s| s.to_string());
        let var = |name: &str, default: &str| {
            env.var(name)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| default.to_owned())
        };
        let key_name = format!("STRIPE_SECRET_KEY_{suffix}");
        let secret_key =
            secret(&key_name).ok_or_else(|| misconfigured(format!("{key_name} is not set")))?;
        let expected = match mode {
            Mode::Test => "sk_test_",
            Mode::Live => "sk_live_",
        };
        if !(secret_key.starts_with(expected)
            || secret_key.starts_with(&expected.replace("sk_", "rk_")))
        {
            return Err(misconfigured(format!("{key_name} is not a {expected} key")));
        }
        Ok(Self {
            api_base: var("STRIPE_API_BASE", "https://api.stripe.com"),
            connect_base: var("STRIPE_CONNECT_BASE", "https://connect.stripe.com"),
            secret_key,
            client_id: secret(&format!("STRIPE_CLIENT_ID_{suffix}")),
            mode,
        })
    }

    /// The Connect application's client id (`ca_…`) for the mode.
    ///
    /// # Errors
    /// `payment_provider_misconfigured` when `STRIPE_CLIENT_ID_{TEST,LIVE}` is not set.
    pub fn client_id(&self) -> Result<&str, ApiError> {
        self.client_id.as_deref().ok_or_else(|| {
            misconfigured(format!(
                "STRIPE_CLIENT_ID_{} is not set",
                self.mode.as_str().to_ascii_uppercase()
            ))
        })
    }

    /// Where Connect's consent page lives.
    #[must_use]
    pub fn authorize_base(&self) -> String {
        format!("{}/oauth/authorize", self.connect_base)
    }

    /// Sends `call`, retrying unavailability up to twice when the call is safe to repeat.
    ///
    /// # Errors
    /// [`ApiError::Provider`] with the mapped Stripe failure.
    pub async fn send<T: DeserializeOwned>(&self, call: &Call<T>) -> Result<T, ApiError> {
        // The request's parts, untyped: one copy of the exchange serves every answer type.
        let outgoing = Outgoing {
            host: call.host,
            verb: call.verb,
            path: &call.path,
            target: call.target(),
            body: call.body(),
            account: call.account.as_deref(),
            idempotency_key: call.idempotency_key.as_deref(),
        };
        let mut attempt = 0;
        loop {
            let result = match self.attempt(&outgoing).await {
                Ok((status, body)) => call.parse(status, &body),
                Err(failure) => Err(failure),
            };
            match result {
                Err(failure)
                    if failure.retryable() && call.safe_to_retry() && attempt < BACKOFF.len() =>
                {
                    Delay::from(BACKOFF[attempt]).await;
                    attempt += 1;
                }
                other => return other.map_err(ApiError::Provider),
            }
        }
    }

    async fn attempt(&self, call: &Outgoing<'_>) -> Result<(u16, String), ProviderError> {
        let base = match call.host {
            Host::Api => &self.api_base,
            Host::Connect => &self.connect_base,
        };
        let headers = Headers::new();
        let set = |name: &str, value: &str| {
            headers
                .set(name, value)
                .map_err(|e| ProviderError::unreachable(format!("header {name}: {e}")))
        };
        set("Authorization", &format!("Bearer {}", self.secret_key))?;
        set("Stripe-Version", tollgate::stripe::API_VERSION)?;
        if let Some(account) = call.account {
            set("Stripe-Account", account)?;
        }
        if let Some(key) = call.idempotency_key {
            set("Idempotency-Key", key)?;
        }
        let method = match call.verb {
            tollgate::stripe::HttpVerb::Get => Method::Get,
            tollgate::stripe::HttpVerb::Post => Method::Post,
            tollgate::stripe::HttpVerb::Delete => Method::Delete,
        };
        let mut init = RequestInit::new();
        init.with_method(method);
        if let Some(body) = &call.body {
            set("Content-Type", "application/x-www-form-urlencoded")?;
            init.with_body(Some(body.as_str().into()));
        }
        init.with_headers(headers);
        let url = format!("{base}{}", call.target);
        let request = Request::new_with_init(&url, &init).map_err(|e| {
            ProviderError::unreachable(format!("{} {}: {e}", call.verb.as_str(), call.path))
        })?;
        let exchange = async {
            let mut response = Fetch::Request(request).send().await?;
            let body = response.text().await?;
            Ok::<_, worker::Error>((response.status_code(), body))
        };
        match select(pin!(exchange), pin!(Delay::from(ATTEMPT_TIMEOUT))).await {
            Either::Left((Ok(answer), _)) => Ok(answer),
            Either::Left((Err(e), _)) => Err(ProviderError::unreachable(format!(
                "{} {}: {e}",
                call.verb.as_str(),
                call.path
            ))),
            Either::Right(_) => Err(ProviderError::unreachable(format!(
                "{} {}: no answer within {} s",
                call.verb.as_str(),
                call.path,
                ATTEMPT_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// One call's request, without the type of its answer.
struct Outgoing<'a> {
    host: Host,
    verb: tollgate::stripe::HttpVerb,
    path: &'a str,
    target: String,
    body: Option<String>,
    account: Option<&'a str>,
    idempotency_key: Option<&'a str>,
}
