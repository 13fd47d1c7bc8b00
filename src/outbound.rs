//! Outbound webhooks to developers, as pure rules: the event types and their envelope, event
//! ids that cannot fire twice, usage thresholds, endpoint URL rules (no SSRF), the endpoint
//! inputs, Standard Webhooks signing and the retry schedule.
//!
//! The edge stores and queues deliveries; everything that decides something lives here, so
//! it runs under `cargo test` natively.

use crate::console::FieldErrors;
use crate::ids::derived_id;
use crate::project::Mode;
use crate::usage::Limit;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a developer can subscribe an endpoint to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// An end user was created.
    CustomerCreated,
    /// A subscription row was created or changed by a Stripe event.
    SubscriptionUpdated,
    /// An end user's metered usage reached 80 % or 100 % of a finite limit.
    UsageThresholdReached,
    /// A Store order was paid.
    OrderCompleted,
    /// Access was granted or lost (a paid order, a subscription starting or ending).
    EntitlementChanged,
    /// Money of a Store order was refunded, in part or in full.
    OrderRefunded,
    /// A Store order was paid but cannot be fulfilled: its hold lapsed and the stock is gone.
    OrderNeedsAttention,
    /// Sent to one endpoint on the developer's request, to check it receives and verifies
    /// deliveries. Nothing subscribes to it, so it is not in [`EventType::ALL`].
    Test,
}

impl EventType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [Self; 7] = [
        Self::CustomerCreated,
        Self::SubscriptionUpdated,
        Self::UsageThresholdReached,
        Self::OrderCompleted,
        Self::EntitlementChanged,
        Self::OrderRefunded,
        Self::OrderNeedsAttention,
    ];

    /// The wire spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CustomerCreated => "customer.created",
            Self::SubscriptionUpdated => "subscription.updated",
            Self::UsageThresholdReached => "usage.threshold_reached",
            Self::OrderCompleted => "order.completed",
            Self::EntitlementChanged => "entitlement.changed",
            Self::OrderRefunded => "order.refunded",
            Self::OrderNeedsAttention => "order.needs_attention",
            Self::Test => "webhook.test",
        }
    }

    /// Parses the wire spelling of a type an endpoint can subscribe to.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Parses any type a delivery can carry: the subscribable ones and the test event.
    #[must_use]
    pub fn parse_delivered(text: &str) -> Option<Self> {
        Self::parse(text).or((text == Self::Test.as_str()).then_some(Self::Test))
    }
}

/// The `data` of a `webhook.test` event: which endpoint asked, and what it proves.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestEvent<'a> {
    /// The endpoint the test was sent to.
    pub endpoint_id: &'a str,
    /// A sentence for whoever reads the receiver's log.
    pub message: &'static str,
}

impl<'a> TestEvent<'a> {
    /// The test event for `endpoint_id`.
    #[must_use]
    pub const fn new(endpoint_id: &'a str) -> Self {
        Self {
            endpoint_id,
            message: "A test event from Tollgate: if its signature verifies, this endpoint receives deliveries.",
        }
    }
}

/// Subscribes an endpoint to every type.
pub const ALL_EVENTS: &str = "*";
/// A delivery is retried until this long after it was (re)queued, then marked failed.
pub const DELIVERY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest delay between two attempts: the most a Queues message can be delayed.
pub const MAX_RETRY_DELAY_SECONDS: u32 = 12 * 60 * 60;
/// `WEBHOOK_RETRY_BASE_SECONDS` when unset: the first retry waits this long.
pub const DEFAULT_RETRY_BASE_SECONDS: u32 = 30;
/// How long one attempt may take before it counts as failed.
pub const ATTEMPT_TIMEOUT_SECONDS: u64 = 10;
/// At most this many endpoints per project (each event fans out to every one).
pub const MAX_ENDPOINTS: usize = 16;
/// The usage thresholds that fire `usage.threshold_reached`, in percent of the limit.
pub const THRESHOLDS: [u8; 2] = [80, 100];
const MAX_URL_LEN: usize = 2048;
const MAX_DESCRIPTION_LEN: usize = 256;
const SECRET_PREFIX: &str = "whsec_";

/// The id of an event, derived from what makes it unique: the same fact always gets the same
/// id, so a duplicate emission conflicts on `(endpoint_id, event_id)` instead of firing twice.
#[must_use]
pub fn event_id(kind: EventType, seed: &str) -> String {
    derived_id("evt", &format!("{}:{seed}", kind.as_str()))
}

/// The id of a `usage.threshold_reached` event: one per end user, period and threshold.
#[must_use]
pub fn threshold_event_id(
    project_id: &str,
    end_user_id: &str,
    period_start: i64,
    percent: u8,
) -> String {
    event_id(
        EventType::UsageThresholdReached,
        &format!("{project_id}:{end_user_id}:{period_start}:{percent}"),
    )
}

/// The count at which `percent` of `limit` is reached (rounded up, at least 1).
#[must_use]
pub fn threshold_count(limit: u64, percent: u8) -> u64 {
    let exact = u128::from(limit) * u128::from(percent);
    u64::try_from(exact.div_ceil(100))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The thresholds a call that moved the counter from `previous` to `new` crossed. Counting is
/// one atomic upsert, so calls see distinct consecutive counts and exactly one call crosses
/// each threshold; an unlimited or zero limit has none.
#[must_use]
pub fn thresholds_crossed(previous: u64, new: u64, limit: Limit) -> Vec<u8> {
    let Limit::Count(limit) = limit else {
        return Vec::new();
    };
    if limit == 0 || new <= previous {
        return Vec::new();
    }
    THRESHOLDS
        .into_iter()
        .filter(|p| {
            let at = threshold_count(limit, *p);
            previous < at && at <= new
        })
        .collect()
}

/// The JSON body every delivery of an event carries. `data` holds the object views the API
/// already answers with; never a secret.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a, T: Serialize> {
    /// `evt_…`, the same on every retry and resend (`webhook-id`).
    pub id: &'a str,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When it happened (Unix ms).
    pub created_at: i64,
    /// The project it happened in.
    pub project_id: &'a str,
    /// `test` or `live`.
    pub mode: &'a str,
    /// The object.
    pub data: &'a T,
}

impl<'a, T: Serialize> Envelope<'a, T> {
    /// An envelope for `kind`.
    #[must_use]
    pub const fn new(
        id: &'a str,
        kind: EventType,
        created_at: i64,
        project_id: &'a str,
        mode: &'a str,
        data: &'a T,
    ) -> Self {
        Self {
            id,
            kind: kind.as_str(),
            created_at,
            project_id,
            mode,
            data,
        }
    }

    /// The body as sent.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a queue message names: a delivery and the attempt count it expects. A message whose
/// count is behind the row's is a duplicate (another message already made that attempt).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryMessage {
    /// `whd_…`
    pub delivery_id: String,
    /// Attempts made when this message was sent.
    pub attempt: i64,
}

// ---------------------------------------------------------------------------------------
// Signing (Standard Webhooks)

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
#[must_use]
pub fn new_secret() -> String {
    format!(
        "{SECRET_PREFIX}{}",
        STANDARD.encode(crate::ids::random_bytes::<32>())
    )
}

/// The HMAC key inside a secret (the base64 after `whsec_`), if it is one.
#[must_use]
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX)?)
        .ok()
        .filter(|k| !k.is_empty())
}

/// The last four characters of a secret, for display.
#[must_use]
pub fn secret_last4(secret: &str) -> String {
    secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// One `v1,<base64 HMAC-SHA256>` signature of `{id}.{timestamp}.{body}` under `key`.
#[must_use]
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per key, space-separated (during a secret
/// rotation the old and the new secret both sign, so either verifies).
#[must_use]
pub fn signature_header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &str) -> String {
    keys.iter()
        .map(|k| signature(k, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------
// Retries

/// The base delay from `WEBHOOK_RETRY_BASE_SECONDS` (1 s – 1 h; default 30 s).
#[must_use]
pub fn retry_base(raw: Option<&str>) -> u32 {
    raw.and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|s| (1..=3600).contains(s))
        .unwrap_or(DEFAULT_RETRY_BASE_SECONDS)
}

/// The wait after the `failed`-th failed attempt: `base`, then doubling, each capped at 12 h.
#[must_use]
pub fn retry_delay_seconds(failed: u32, base: u32) -> u32 {
    let doublings = failed.saturating_sub(1).min(31);
    base.saturating_mul(1_u32 << doublings)
        .min(MAX_RETRY_DELAY_SECONDS)
}

/// What follows a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at `at` (ms), `delay_seconds` from now.
    Retry {
        /// When (Unix ms).
        at: i64,
        /// The queue delay.
        delay_seconds: u32,
    },
    /// The window is over: the delivery has failed.
    GiveUp,
}

/// The next step after the `failed`-th failed attempt at `now`, for a delivery retried until
/// `deadline`. The last retry is moved onto the deadline, so the window is used in full.
#[must_use]
pub fn after_failure(now: i64, failed: u32, base: u32, deadline: i64) -> AfterFailure {
    if now >= deadline {
        return AfterFailure::GiveUp;
    }
    let wanted = now + i64::from(retry_delay_seconds(failed, base)) * 1000;
    let at = wanted.min(deadline);
    let delay_seconds = u32::try_from((at - now + 999) / 1000).unwrap_or(MAX_RETRY_DELAY_SECONDS);
    AfterFailure::Retry { at, delay_seconds }
}

// ---------------------------------------------------------------------------------------
// Failed attempts

/// What a delivery's `lastError` says when its endpoint answered a status outside 2xx.
#[must_use]
pub fn http_failure(status: u16) -> String {
    format!("http_{status}")
}

/// The category of an answer Cloudflare's edge gave in the receiver's place. A Worker's
/// subrequest that cannot reach its host does not throw in production: the edge answers it
/// with one of its own statuses — 530 carrying error 1016 for a name that does not resolve,
/// 521 for a refused connection, 522 and 524 for timeouts, 525 and 526 for a failed TLS
/// handshake or certificate, 520 and 523 for anything else on the way. Those say why the
/// receiver gave no answer, so they are shown as that category (and no status code), never
/// as `http_52x`; `body` is the start of the answer (error 1016 is named only there).
#[must_use]
pub fn edge_failure(status: u16, body: &[u8]) -> Option<&'static str> {
    match status {
        521 => Some("connection_refused"),
        522 | 524 => Some("timeout"),
        525 | 526 => Some("tls"),
        520 | 523 => Some("network"),
        530 if body.windows(4).take(1024).any(|w| w == b"1016") => Some("dns"),
        _ => None,
    }
}

/// The category a failed fetch is shown under in a delivery's `lastError`. The runtime's own
/// message can name internal hosts, addresses or a TLS library's detail, so it goes only to
/// the log: the developer sees `timeout`, `connection_refused`, `dns`, `tls` or `network`.
#[must_use]
pub fn network_failure(cause: &str) -> &'static str {
    let cause = cause.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| cause.contains(n));
    if any(&["timed out", "timeout"]) {
        "timeout"
    } else if any(&["refused"]) {
        "connection_refused"
    } else if any(&["dns", "resolve", "getaddrinfo", "enotfound", "name not"]) {
        "dns"
    } else if any(&["tls", "ssl", "certificate", "handshake"]) {
        "tls"
    } else {
        "network"
    }
}

// ---------------------------------------------------------------------------------------
// Endpoint URLs

/// Whether an IPv4 address is one a webhook may never target from a live project: loopback,
/// private, link-local, shared (CGNAT), unspecified, broadcast, multicast or reserved.
fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// What the host of a URL is.
enum Host {
    Loopback,
    Internal,
    Public,
}

fn classify(host: &str) -> Result<Host, &'static str> {
    let host = host.to_ascii_lowercase();
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = inner.parse().map_err(|_| "has an invalid IPv6 address")?;
        return Ok(if ip.is_loopback() {
            Host::Loopback
        } else if internal_v6(ip) {
            Host::Internal
        } else {
            Host::Public
        });
    }
    if host.is_empty() || host.len() > 253 {
        return Err("needs a host");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err("has an invalid host");
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return Ok(Host::Loopback);
    }
    // A numeric last label makes a URL parser read the host as an IPv4 address, in any of
    // its spellings (`2130706433`, `0x7f.1`, `127.1`): only the plain dotted quad is taken.
    let last = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    let numeric =
        !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x"));
    if numeric {
        let ip: Ipv4Addr = host
            .parse()
            .map_err(|_| "has an IP address in an unusual form: use the dotted quad")?;
        return Ok(if ip.is_loopback() {
            Host::Loopback
        } else if internal_v4(ip) {
            Host::Internal
        } else {
            Host::Public
        });
    }
    if !host.contains('.') || host.starts_with('.') || host.contains("..") {
        return Err("needs a public host name");
    }
    Ok(Host::Public)
}

/// Where a project's endpoints may point: `https` to public hosts always, and loopback too
/// (`127.0.0.1`, `localhost`, `[::1]`, any port, http or https) only for a test project on a
/// deployment with `ENVIRONMENT=development`, for receivers on the developer's own machine.
/// Anywhere else loopback is the worker's own host, never the developer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    mode: Mode,
    loopback: bool,
}

impl Reach {
    /// The reach of a project in `mode` on a deployment that is (or is not) development.
    #[must_use]
    pub fn new(mode: Mode, development: bool) -> Self {
        Self {
            mode,
            loopback: development && mode == Mode::Test,
        }
    }
}

/// Checks an endpoint URL against a project's [`Reach`]. Never credentials in the URL, a
/// fragment, or a private, link-local or reserved address.
///
/// # Errors
/// A reason fit for `fieldErrors.url`.
pub fn check_url(raw: &str, reach: Reach) -> Result<String, &'static str> {
    let url = raw.trim();
    if url.is_empty() {
        return Err("is required");
    }
    if url.len() > MAX_URL_LEN {
        return Err("must be at most 2048 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let (scheme, rest) = url.split_once("://").ok_or("must be an absolute URL")?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return Err("must use https"),
    };
    if rest.contains('#') {
        return Err("must not have a fragment");
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("must not contain credentials");
    }
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if let Some(port) = port
        && !(port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err("has an invalid port");
    }
    match (classify(host)?, reach.mode, https) {
        (Host::Loopback, _, _) if reach.loopback => Ok(url.to_owned()),
        (Host::Loopback, Mode::Live, _) => {
            Err("must not point at localhost or a loopback address in live mode")
        }
        (Host::Loopback, Mode::Test, _) => Err(
            "must not point at localhost or a loopback address (only a local development stack allows it)",
        ),
        (Host::Internal, _, _) => {
            Err("must not point at a private, link-local or reserved address")
        }
        (Host::Public, _, true) => Ok(url.to_owned()),
        (Host::Public, Mode::Live, false) => Err("must use https in live mode"),
        (Host::Public, Mode::Test, false) if reach.loopback => {
            Err("must use https (test mode also allows http to 127.0.0.1 or localhost)")
        }
        (Host::Public, Mode::Test, false) => Err("must use https"),
    }
}

// ---------------------------------------------------------------------------------------
// Endpoint inputs

fn field_error(errors: &mut FieldErrors, field: &str, reason: &str) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(reason.to_owned());
}

/// Whether an endpoint receives deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    /// Receives deliveries.
    Enabled,
    /// Receives nothing; pending deliveries stop.
    Disabled,
}

impl EndpointStatus {
    /// The wire and column spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }

    /// Parses the wire spelling.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enabled" => Some(Self::Enabled),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// Where one delivery stands (`webhook_deliveries.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Still being attempted, on the retry schedule.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up: out of attempts or time, or its endpoint went away.
    Failed,
}

impl DeliveryStatus {
    /// The wire and column spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// A complete, valid endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSpec {
    /// Where deliveries go.
    pub url: String,
    /// `["*"]` or distinct event types, in documentation order.
    pub events: Vec<String>,
    /// The developer's note.
    pub description: Option<String>,
    /// Enabled or disabled.
    pub status: EndpointStatus,
}

impl EndpointSpec {
    /// The events as the stored JSON array.
    #[must_use]
    pub fn events_json(&self) -> String {
        serde_json::to_string(&self.events).unwrap_or_else(|_| "[]".to_owned())
    }

    fn validate(
        url: Option<&str>,
        events: Option<&[String]>,
        description: Option<&str>,
        status: EndpointStatus,
        reach: Reach,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let url = match url.map(|u| check_url(u, reach)) {
            Some(Ok(url)) => Some(url),
            Some(Err(reason)) => {
                field_error(&mut errors, "url", reason);
                None
            }
            None => {
                field_error(&mut errors, "url", "is required");
                None
            }
        };
        let events = match events {
            None => {
                field_error(
                    &mut errors,
                    "events",
                    "is required: event types, or [\"*\"]",
                );
                None
            }
            Some([]) => {
                field_error(&mut errors, "events", "must name at least one event type");
                None
            }
            Some(list) => normalize_events(list, &mut errors),
        };
        let description = description.map(str::trim).filter(|d| !d.is_empty());
        if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN) {
            field_error(&mut errors, "description", "must be at most 256 characters");
        }
        match (url, events) {
            (Some(url), Some(events)) if errors.is_empty() => Ok(Self {
                url,
                events,
                description: description.map(str::to_owned),
                status,
            }),
            _ => Err(errors),
        }
    }
}

fn normalize_events(list: &[String], errors: &mut FieldErrors) -> Option<Vec<String>> {
    let mut wildcard = false;
    let mut chosen = Vec::new();
    for name in list {
        if name == ALL_EVENTS {
            wildcard = true;
        } else if let Some(kind) = EventType::parse(name) {
            chosen.push(kind);
        } else {
            field_error(
                errors,
                "events",
                &format!(
                    "{name:?} is not an event type: use customer.created, subscription.updated, usage.threshold_reached, order.completed, entitlement.changed, order.refunded, order.needs_attention or *"
                ),
            );
            return None;
        }
    }
    if wildcard {
        return Some(vec![ALL_EVENTS.to_owned()]);
    }
    Some(
        EventType::ALL
            .into_iter()
            .filter(|k| chosen.contains(k))
            .map(|k| k.as_str().to_owned())
            .collect(),
    )
}

/// `POST /v1/projects/{id}/webhook-endpoints`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateEndpointInput {
    /// Where deliveries go.
    pub url: Option<String>,
    /// Event types, or `["*"]`.
    pub events: Option<Vec<String>>,
    /// A note for the developer.
    pub description: Option<String>,
}

impl CreateEndpointInput {
    /// The endpoint to create (enabled) in a project of that reach.
    ///
    /// # Errors
    /// Every invalid field.
    pub fn validate(self, reach: Reach) -> Result<EndpointSpec, FieldErrors> {
        EndpointSpec::validate(
            self.url.as_deref(),
            self.events.as_deref(),
            self.description.as_deref(),
            EndpointStatus::Enabled,
            reach,
        )
    }
}

/// `PATCH /v1/projects/{id}/webhook-endpoints/{endpointId}`: the fields to change and the
/// `updatedAt` last read. An empty description clears it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EditEndpointInput {
    /// New URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// New note (`""` clears it).
    pub description: Option<String>,
    /// `enabled` or `disabled`.
    pub status: Option<String>,
    /// The record's `updatedAt` as last read.
    pub updated_at: Option<i64>,
}

impl EditEndpointInput {
    /// The endpoint after the edit, validated whole, and the `updatedAt` it expects.
    ///
    /// # Errors
    /// Every invalid field, or a missing `updatedAt`.
    pub fn apply(
        self,
        current: &EndpointSpec,
        reach: Reach,
    ) -> Result<(EndpointSpec, i64), FieldErrors> {
        let mut errors = FieldErrors::new();
        let status = match self.status.as_deref() {
            None => current.status,
            Some(raw) => EndpointStatus::parse(raw).unwrap_or_else(|| {
                field_error(&mut errors, "status", "must be enabled or disabled");
                current.status
            }),
        };
        if self.updated_at.is_none() {
            field_error(
                &mut errors,
                "updatedAt",
                "is required: send the updatedAt you last read",
            );
        }
        let url = self.url.as_deref().unwrap_or(&current.url);
        let events = self.events.as_deref().unwrap_or(&current.events);
        let description = match &self.description {
            Some(d) => Some(d.as_str()),
            None => current.description.as_deref(),
        };
        let spec = EndpointSpec::validate(Some(url), Some(events), description, status, reach);
        match (spec, self.updated_at) {
            (Ok(spec), Some(at)) if errors.is_empty() => Ok((spec, at)),
            (Ok(_), _) => Err(errors),
            (Err(more), _) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }
}

/// `POST …/{endpointId}/rotate-secret`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateSecretInput {
    /// How long the old secret keeps signing beside the new one, in seconds (0–86 400;
    /// default 0).
    pub grace_period_seconds: Option<i64>,
}

/// The longest time an old secret keeps signing: 24 hours.
pub const MAX_SECRET_GRACE_SECONDS: i64 = 24 * 60 * 60;

impl RotateSecretInput {
    /// The grace period in seconds.
    ///
    /// # Errors
    /// When it is outside 0–24 h.
    pub fn validate(self) -> Result<i64, FieldErrors> {
        let grace = self.grace_period_seconds.unwrap_or(0);
        if (0..=MAX_SECRET_GRACE_SECONDS).contains(&grace) {
            return Ok(grace);
        }
        let mut errors = FieldErrors::new();
        field_error(
            &mut errors,
            "gracePeriodSeconds",
            "must be from 0 to 86400 (24 hours)",
        );
        Err(errors)
    }
}

/// What a delivery list may be narrowed to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// One endpoint's deliveries.
    pub endpoint_id: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub status: Option<String>,
    /// One event type.
    pub event_type: Option<String>,
}

impl DeliveryFilter {
    /// Reads `endpointId`, `status` and `eventType` from the query (others are ignored; the
    /// page is read elsewhere).
    ///
    /// # Errors
    /// Every invalid value.
    pub fn from_query<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut filter = Self::default();
        for (key, value) in pairs {
            match key {
                "endpointId" => filter.endpoint_id = Some(value.to_owned()),
                "status" if ["pending", "delivered", "failed"].contains(&value) => {
                    filter.status = Some(value.to_owned());
                }
                "status" => field_error(
                    &mut errors,
                    "status",
                    "must be pending, delivered or failed",
                ),
                "eventType" if EventType::parse_delivered(value).is_some() => {
                    filter.event_type = Some(value.to_owned());
                }
                "eventType" => field_error(&mut errors, "eventType", "is not an event type"),
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_endpoint_and_delivery_statuses_parse_from_their_words_only() {
        for status in [EndpointStatus::Enabled, EndpointStatus::Disabled] {
            let word = serde_json::json!(status.as_str());
            assert_eq!(
                serde_json::from_value::<EndpointStatus>(word).ok(),
                Some(status)
            );
            assert_eq!(EndpointStatus::parse(status.as_str()), Some(status));
        }
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ] {
            let word = serde_json::json!(status.as_str());
            assert_eq!(
                serde_json::from_value::<DeliveryStatus>(word.clone()).ok(),
                Some(status)
            );
            assert_eq!(serde_json::to_value(status).ok(), Some(word));
        }
        for bad in ["", "Enabled", "paused"] {
            assert!(
                serde_json::from_value::<EndpointStatus>(serde_json::json!(bad)).is_err(),
                "{bad}"
            );
        }
        for bad in ["", "Pending", "retrying"] {
            assert!(
                serde_json::from_value::<DeliveryStatus>(serde_json::json!(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn event_ids_are_stable_per_fact_and_differ_between_facts() {
        let a = threshold_event_id("prj_1", "cus_1", 1_000, 80);
        assert_eq!(a, threshold_event_id("prj_1", "cus_1", 1_000, 80));
        assert!(a.starts_with("evt_"));
        for other in [
            threshold_event_id("prj_1", "cus_1", 1_000, 100),
            threshold_event_id("prj_1", "cus_1", 2_000, 80),
            threshold_event_id("prj_1", "cus_2", 1_000, 80),
            threshold_event_id("prj_2", "cus_1", 1_000, 80),
            event_id(EventType::CustomerCreated, "prj_1:cus_1:1000:80"),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn threshold_counts_round_up() {
        assert_eq!(threshold_count(5, 80), 4);
        assert_eq!(threshold_count(5, 100), 5);
        assert_eq!(threshold_count(3, 80), 3);
        assert_eq!(threshold_count(1, 80), 1);
        assert_eq!(threshold_count(1000, 80), 800);
    }

    #[test]
    fn with_a_limit_of_five_only_the_fourth_and_fifth_calls_cross_a_threshold() {
        let limit = Limit::Count(5);
        let crossed: Vec<(u64, Vec<u8>)> = (1..=5)
            .map(|n| (n, thresholds_crossed(n - 1, n, limit)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        assert_eq!(crossed, vec![(4, vec![80]), (5, vec![100])]);
    }

    #[test]
    fn one_large_call_can_cross_both_thresholds() {
        assert_eq!(thresholds_crossed(0, 10, Limit::Count(10)), vec![80, 100]);
        assert_eq!(thresholds_crossed(7, 9, Limit::Count(10)), vec![80]);
    }

    #[test]
    fn unlimited_zero_limits_and_check_only_calls_cross_nothing() {
        assert!(thresholds_crossed(0, 1_000, Limit::Unlimited).is_empty());
        assert!(thresholds_crossed(0, 0, Limit::Count(0)).is_empty());
        assert!(thresholds_crossed(4, 4, Limit::Count(5)).is_empty());
    }

    #[test]
    fn the_envelope_carries_id_type_time_project_mode_and_data() {
        let data = serde_json::json!({ "id": "cus_1" });
        let body = Envelope::new(
            "evt_1",
            EventType::CustomerCreated,
            5,
            "prj_1",
            "test",
            &data,
        )
        .to_json();
        assert_eq!(
            body,
            r#"{"id":"evt_1","type":"customer.created","createdAt":5,"projectId":"prj_1","mode":"test","data":{"id":"cus_1"}}"#
        );
    }

    #[test]
    fn secrets_are_whsec_and_32_bytes_of_base64() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret_key(&secret).map(|k| k.len()), Some(32));
        assert_ne!(secret, new_secret());
        assert_eq!(secret_key("whsec_!!"), None);
        assert_eq!(secret_key("sk_test_abc"), None);
        assert_eq!(secret_last4("whsec_abcdWXYZ"), "WXYZ");
    }

    #[test]
    fn signatures_match_the_standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification's reference libraries.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_every_key_space_separated() {
        let header = signature_header(&[vec![1], vec![2]], "evt_1", 10, "{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn retry_delays_double_from_the_base_and_stop_at_twelve_hours() {
        let delays: Vec<u32> = (1..=6).map(|n| retry_delay_seconds(n, 30)).collect();
        assert_eq!(delays, vec![30, 60, 120, 240, 480, 960]);
        assert_eq!(retry_delay_seconds(12, 30), MAX_RETRY_DELAY_SECONDS);
        assert_eq!(retry_delay_seconds(500, 30), MAX_RETRY_DELAY_SECONDS);
    }

    #[test]
    fn the_retry_base_comes_from_the_variable_within_bounds() {
        assert_eq!(retry_base(None), 30);
        assert_eq!(retry_base(Some("1")), 1);
        assert_eq!(retry_base(Some("0")), 30);
        assert_eq!(retry_base(Some("soon")), 30);
        assert_eq!(retry_base(Some("99999")), 30);
    }

    #[test]
    fn failures_retry_until_the_deadline_then_give_up() {
        let deadline = DELIVERY_WINDOW_MS;
        assert_eq!(
            after_failure(0, 1, 30, deadline),
            AfterFailure::Retry {
                at: 30_000,
                delay_seconds: 30
            }
        );
        // The last retry lands on the deadline rather than past it.
        let late = deadline - 60_000;
        assert_eq!(
            after_failure(late, 11, 30, deadline),
            AfterFailure::Retry {
                at: deadline,
                delay_seconds: 60
            }
        );
        assert_eq!(
            after_failure(deadline, 12, 30, deadline),
            AfterFailure::GiveUp
        );
    }

    #[test]
    fn a_full_window_at_production_settings_takes_about_a_dozen_attempts() {
        let (mut now, mut failed) = (0_i64, 0_u32);
        loop {
            failed += 1;
            match after_failure(now, failed, 30, DELIVERY_WINDOW_MS) {
                AfterFailure::Retry { at, .. } => now = at,
                AfterFailure::GiveUp => break,
            }
        }
        assert_eq!(now, DELIVERY_WINDOW_MS);
        assert_eq!(failed, 13);
    }

    #[test]
    fn url_rules_by_mode() {
        use Mode::{Live, Test};
        // As on a local development stack, where test projects may reach loopback.
        let cases: &[(&str, Mode, bool)] = &[
            ("https://hooks.example.com/tollgate", Live, true),
            ("https://hooks.example.com:8443/x?y=1", Live, true),
            ("https://93.184.216.34/hook", Live, true),
            ("http://hooks.example.com/x", Live, false),
            ("http://hooks.example.com/x", Test, false),
            ("https://localhost/x", Live, false),
            ("http://127.0.0.1:9000/x", Live, false),
            ("http://127.0.0.1:9000/x", Test, true),
            ("http://localhost:3000/hooks", Test, true),
            ("https://localhost/x", Test, true),
            ("http://[::1]:8080/", Test, true),
            ("https://10.0.0.5/x", Live, false),
            ("https://10.0.0.5/x", Test, false),
            ("https://172.16.3.4/x", Live, false),
            ("https://192.168.1.1/x", Live, false),
            ("https://169.254.169.254/latest/meta-data", Live, false),
            ("https://169.254.169.254/latest/meta-data", Test, false),
            ("https://100.64.0.1/x", Live, false),
            ("https://0.0.0.0/x", Live, false),
            ("https://[fe80::1]/x", Live, false),
            ("https://[fd00::1]/x", Live, false),
            ("https://[::ffff:10.0.0.1]/x", Live, false),
            ("https://2130706433/x", Live, false),
            ("https://0x7f.1/x", Live, false),
            ("https://127.1/x", Live, false),
            ("https://user:pw@hooks.example.com/x", Live, false),
            ("https://hooks.example.com/x#frag", Live, false),
            ("ftp://hooks.example.com/x", Live, false),
            ("hooks.example.com/x", Live, false),
            ("https:///x", Live, false),
            ("https://intranet/x", Live, false),
            ("https://hooks.example.com:0/x", Live, false),
            ("https://hooks.example.com:99999/x", Live, false),
            ("https://hooks example.com/x", Live, false),
            ("", Live, false),
        ];
        for (url, mode, ok) in cases {
            assert_eq!(
                check_url(url, Reach::new(*mode, true)).is_ok(),
                *ok,
                "{url} in {mode}"
            );
        }
    }

    #[test]
    fn a_failed_fetch_is_shown_as_a_category_never_as_the_runtimes_message() {
        let cases = [
            ("The operation timed out after 10000ms", "timeout"),
            ("connect ECONNREFUSED 10.1.2.3:443", "connection_refused"),
            ("Connection refused (os error 111)", "connection_refused"),
            ("DNS lookup failed for internal.corp", "dns"),
            ("getaddrinfo ENOTFOUND hooks.example.com", "dns"),
            (
                "TLS peer's certificate is not trusted; reason = self signed",
                "tls",
            ),
            ("SSL handshake failed", "tls"),
            ("Network connection lost.", "network"),
            ("internal error; reference = 7h2k9", "network"),
            ("", "network"),
        ];
        for (cause, category) in cases {
            assert_eq!(network_failure(cause), category, "{cause}");
        }
        assert_eq!(http_failure(503), "http_503");
        assert_eq!(http_failure(302), "http_302");
    }

    #[test]
    fn an_answer_the_edge_gave_in_the_receivers_place_is_shown_as_why() {
        let cases: [(u16, &[u8], Option<&str>); 10] = [
            (530, b"error code: 1016", Some("dns")),
            (530, b"error code: 1003", None),
            (521, b"error code: 521", Some("connection_refused")),
            (522, b"", Some("timeout")),
            (524, b"", Some("timeout")),
            (525, b"", Some("tls")),
            (526, b"", Some("tls")),
            (523, b"", Some("network")),
            (500, b"error code: 1016", None),
            (503, b"", None),
        ];
        for (status, body, category) in cases {
            assert_eq!(edge_failure(status, body), category, "{status}");
        }
    }

    #[test]
    fn loopback_is_reachable_only_from_test_projects_of_a_development_stack() {
        use Mode::{Live, Test};
        let loopbacks = [
            "http://127.0.0.1:9000/x",
            "https://127.0.0.1/x",
            "http://localhost:3000/hooks",
            "https://app.localhost/x",
            "http://[::1]:8080/",
        ];
        let reaches: &[(Mode, bool, bool)] = &[
            (Test, true, true),
            (Test, false, false),
            (Live, true, false),
            (Live, false, false),
        ];
        for url in loopbacks {
            for (mode, development, ok) in reaches {
                let checked = check_url(url, Reach::new(*mode, *development));
                assert_eq!(
                    checked.is_ok(),
                    *ok,
                    "{url} in {mode}, development={development}: {checked:?}"
                );
            }
        }
        assert_eq!(
            check_url("http://hooks.example.com/x", Reach::new(Test, false)),
            Err("must use https")
        );
        assert!(check_url("https://hooks.example.com/x", Reach::new(Test, false)).is_ok());
    }

    #[test]
    fn events_are_checked_deduplicated_and_a_wildcard_wins() {
        let spec = |events: &[&str]| {
            CreateEndpointInput {
                url: Some("https://hooks.example.com/x".into()),
                events: Some(events.iter().map(|e| (*e).to_owned()).collect()),
                description: None,
            }
            .validate(Reach::new(Mode::Live, false))
        };
        assert_eq!(
            spec(&["order.completed", "customer.created", "order.completed"])
                .unwrap()
                .events,
            vec!["customer.created", "order.completed"]
        );
        assert_eq!(spec(&["order.completed", "*"]).unwrap().events, vec!["*"]);
        assert!(spec(&[]).unwrap_err().contains_key("events"));
        assert!(spec(&["order.shipped"]).unwrap_err().contains_key("events"));
    }

    #[test]
    fn a_create_reports_every_bad_field_at_once() {
        let errors = CreateEndpointInput {
            url: Some("http://example.com".into()),
            events: None,
            description: Some("x".repeat(300)),
        }
        .validate(Reach::new(Mode::Live, false))
        .unwrap_err();
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(fields, vec!["description", "events", "url"]);
    }

    #[test]
    fn an_edit_overlays_the_current_endpoint_and_needs_updated_at() {
        let current = CreateEndpointInput {
            url: Some("https://hooks.example.com/x".into()),
            events: Some(vec!["*".into()]),
            description: Some("main".into()),
        }
        .validate(Reach::new(Mode::Live, false))
        .unwrap();
        let (next, at) = EditEndpointInput {
            status: Some("disabled".into()),
            description: Some(String::new()),
            updated_at: Some(7),
            ..EditEndpointInput::default()
        }
        .apply(&current, Reach::new(Mode::Live, false))
        .unwrap();
        assert_eq!(at, 7);
        assert_eq!(next.status, EndpointStatus::Disabled);
        assert_eq!(next.description, None);
        assert_eq!(next.url, current.url);
        let missing = EditEndpointInput::default()
            .apply(&current, Reach::new(Mode::Live, false))
            .unwrap_err();
        assert!(missing.contains_key("updatedAt"));
        let bad = EditEndpointInput {
            status: Some("paused".into()),
            url: Some("http://10.0.0.1/".into()),
            updated_at: Some(7),
            ..EditEndpointInput::default()
        }
        .apply(&current, Reach::new(Mode::Test, true))
        .unwrap_err();
        assert!(bad.contains_key("status") && bad.contains_key("url"));
    }

    #[test]
    fn rotation_grace_is_zero_to_a_day() {
        for (grace, ok) in [
            (None, true),
            (Some(0), true),
            (Some(86_400), true),
            (Some(-1), false),
            (Some(86_401), false),
        ] {
            let input = RotateSecretInput {
                grace_period_seconds: grace,
            };
            assert_eq!(input.validate().is_ok(), ok, "{grace:?}");
        }
    }

    #[test]
    fn delivery_filters_refuse_unknown_values() {
        let ok = DeliveryFilter::from_query(
            [
                ("status", "failed"),
                ("eventType", "order.completed"),
                ("endpointId", "whe_1"),
                ("page", "2"),
            ]
            .into_iter(),
        )
        .unwrap();
        assert_eq!(ok.status.as_deref(), Some("failed"));
        assert_eq!(ok.endpoint_id.as_deref(), Some("whe_1"));
        let bad = DeliveryFilter::from_query([("status", "lost"), ("eventType", "x")].into_iter())
            .unwrap_err();
        assert_eq!(bad.len(), 2);
    }

    #[test]
    fn the_test_event_can_be_filtered_on_but_not_subscribed_to() {
        assert_eq!(EventType::parse("webhook.test"), None);
        assert!(!EventType::ALL.contains(&EventType::Test));
        assert_eq!(
            EventType::parse_delivered("webhook.test"),
            Some(EventType::Test)
        );
        let filter =
            DeliveryFilter::from_query([("eventType", "webhook.test")].into_iter()).unwrap();
        assert_eq!(filter.event_type.as_deref(), Some("webhook.test"));
    }
}
