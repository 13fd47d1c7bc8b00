//! The request pipeline every worker runs: request id, routing, the shared routes
//! (`/health`, development-only failure routes), error mapping and common headers.
//!
//! A worker supplies a [`WorkerSpec`] and a handler for its own routes; everything else
//! about the shape of answers lives here, so the five workers answer identically.

use crate::{ApiError, Config, Environment, storage};
use serde::Serialize;
use std::future::Future;
use tollgate::{
    Health, HealthStatus, Match, Method, Params, RequestId, Route, match_route, methods_for,
};
use worker::{Env, Request, Response};

/// What `GET /health` checks beyond the worker answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthProbe {
    /// Nothing: answering is the check.
    Alive,
    /// D1, KV and R2 each answer a cheap query; 503 when one does not.
    Storage,
}

/// Which browser origins may call a worker (CORS). Every lane authenticates with headers, so
/// credentials (cookies) are allowed only where a browser must keep one: the catalog's
/// Connect browser cookie, which binds a consent round trip to the browser (never a lane's
/// credential).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cors {
    /// No CORS headers: not meant for browsers.
    Closed,
    /// Only the origins listed in `CONSOLE_ORIGINS` (comma-separated), echoed exactly.
    Console,
    /// As `Console`, and those origins' `fetch` may include credentials, so a console's call
    /// to `/authorize` leaves the Connect cookie in the browser.
    ConsoleWithCookies,
    /// Any origin (`*`): publishable-key and end-user routes called from customers' sites.
    Public,
}

const PREFLIGHT_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key, X-Request-Id, X-Publishable-Key, X-End-User-Token, X-Clerk-Token, X-User-Token, X-User-Id, X-Checkout-Secret";

/// A worker's identity and its own route table.
#[derive(Debug)]
pub struct WorkerSpec<R: 'static> {
    /// The worker's name, as reported by `/health` and in logs.
    pub name: &'static str,
    /// The worker crate's version.
    pub version: &'static str,
    /// The worker's own routes (the shared routes are added here).
    pub routes: &'static [Route<R>],
    /// Routes that exist only with `ENVIRONMENT=development` (404 anywhere else).
    pub dev_routes: &'static [Route<R>],
    /// What `/health` checks.
    pub health: HealthProbe,
    /// Which browser origins may call it.
    pub cors: Cors,
}

/// What a handler gets: the request, the bindings and what the pipeline parsed.
#[derive(Debug)]
pub struct Ctx {
    /// The incoming request (body unread).
    pub req: Request,
    /// The worker's bindings.
    pub env: Env,
    /// Typed configuration.
    pub config: Config,
    /// This request's id.
    pub request_id: RequestId,
    /// Path parameters of the matched route.
    pub params: Params,
    /// When the request arrived (Unix ms).
    pub now_ms: i64,
}

impl Ctx {
    /// A request header, if present.
    ///
    /// # Errors
    /// When the runtime cannot read headers.
    pub fn header(&self, name: &str) -> Result<Option<String>, ApiError> {
        Ok(self.req.headers().get(name)?)
    }

    /// The caller's address as the edge saw it (absent on local direct sockets).
    #[must_use]
    pub fn client_ip(&self) -> Option<String> {
        self.req.headers().get("CF-Connecting-IP").ok().flatten()
    }

    /// The query string's decoded pairs.
    #[must_use]
    pub fn query(&self) -> Vec<(String, String)> {
        tollgate::query_pairs(&self.req.inner().url())
    }
}

/// In development only: a request carrying this header (any value) is answered with how many
/// key-lookup round trips this isolate has made so far (`kv=<reads>,d1=<queries>`).
const KEY_LOOKUPS_HEADER: &str = "X-Tollgate-Dev-Key-Lookups";

/// In development only: a request may say what time it is (Unix ms), so tests can cross
/// period boundaries. Never read anywhere else.
const CLOCK_HEADER: &str = "X-Tollgate-Dev-Now";

fn clock(header: &Option<String>) -> i64 {
    match header.as_deref().and_then(|v| v.parse::<i64>().ok()) {
        Some(at) if at > 0 => at,
        _ => now_ms(),
    }
}

/// The current time (Unix ms).
#[must_use]
pub fn now_ms() -> i64 {
    // Milliseconds since 1970 fit an i64 for the next 292 million years.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "Date.now() is an integral number of ms"
    )]
    let now = js_sys::Date::now() as i64;
    now
}

#[derive(Clone, Copy, Debug)]
enum Shared {
    Health,
    DevFail,
    DevNoop,
}

const SHARED: &[Route<Shared>] = &[Route::new(Method::Get, "/health", Shared::Health)];

/// In development only: routes that fail on purpose, so tests can prove failures stay opaque,
/// and a no-op through the whole pipeline, the baseline of `npm run bench`.
const SHARED_DEVELOPMENT: &[Route<Shared>] = &[
    Route::new(Method::Get, "/health", Shared::Health),
    Route::new(Method::Get, "/dev/fail/{kind}", Shared::DevFail),
    Route::new(Method::Get, "/dev/noop", Shared::DevNoop),
];

/// Runs one request through the pipeline and `handle` for the worker's own routes.
///
/// # Errors
/// Only when the runtime cannot build a response at all; every handler error becomes a
/// response in the contract's error shape.
pub async fn serve<R, H, F>(
    req: Request,
    env: Env,
    spec: &WorkerSpec<R>,
    handle: H,
) -> worker::Result<Response>
where
    R: Copy,
    H: FnOnce(R, Ctx) -> F,
    F: Future<Output = Result<Response, ApiError>>,
{
    crate::panic::install_hook();
    // Each `req.headers()` is a crossing into JavaScript of its own: fetched once.
    let headers = req.headers();
    let request_id = RequestId::from_incoming(headers.get("X-Request-Id")?.as_deref());
    let config = Config::from_env(&env);
    let development = config.environment == Environment::Development;
    // The raw token: `worker::Method` turns every method it does not know into GET.
    let method = Method::parse(&req.inner().method());
    let origin = allowed_origin(spec.cors, &env, headers.get("Origin")?.as_deref());
    let preflight =
        method == Some(Method::Options) && headers.has("Access-Control-Request-Method")?;
    // One line per request for `npm start`: method, path, status, time and request id.
    let access = config
        .request_log
        .then(|| (req.inner().method(), loggable_path(&req.path()), now_ms()));
    // Development's evidence of key lookups, on the answers of requests that ask for it.
    let count_lookups = development && headers.has(KEY_LOOKUPS_HEADER)?;
    let now = if development {
        clock(&headers.get(CLOCK_HEADER)?)
    } else {
        now_ms()
    };
    let outcome = if preflight {
        match origin {
            Some(_) => Response::empty()
                .map(|r| r.with_status(204))
                .map_err(ApiError::from),
            None => Err(ApiError::Forbidden(
                "This origin may not call this API from a browser.",
            )),
        }
    } else {
        let arrival = Arrival {
            config,
            now_ms: now,
            method,
        };
        dispatch(req, env, arrival, &request_id, spec, handle).await
    };
    let response = match outcome {
        Ok(response) => response,
        Err(error) => error.into_response(&request_id)?,
    };
    if count_lookups {
        // Timing-free evidence for tests of which requests reached storage for a key.
        response
            .headers()
            .set(KEY_LOOKUPS_HEADER, &crate::keyauth::round_trips())?;
    }
    if let Some((verb, path, started)) = access {
        worker::console_log!(
            "{verb} {path} {} {}ms {} ({})",
            response.status_code(),
            now_ms() - started,
            request_id.as_str(),
            spec.name
        );
    }
    finish(
        response,
        &request_id,
        method == Some(Method::Head),
        origin.as_deref(),
        preflight,
        spec.cors == Cors::ConsoleWithCookies,
    )
}

/// A path as a log line may show it: segments long enough to be a token (a download link's,
/// say) are replaced, so no credential reaches the log.
fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.len() > 32 { "…" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// The `Access-Control-Allow-Origin` value for this request's origin, if it may call.
fn allowed_origin(cors: Cors, env: &Env, origin: Option<&str>) -> Option<String> {
    let origin = origin?;
    match cors {
        Cors::Closed => None,
        Cors::Public => Some("*".to_owned()),
        Cors::Console | Cors::ConsoleWithCookies => {
            let list = env
                .var("CONSOLE_ORIGINS")
                .map(|v| v.to_string())
                .unwrap_or_default();
            list.split(',')
                .map(str::trim)
                .any(|allowed| !allowed.is_empty() && allowed == origin)
                .then(|| origin.to_owned())
        }
    }
}

/// What the pipeline read off a request before routing it.
#[derive(Debug)]
struct Arrival {
    config: Config,
    now_ms: i64,
    method: Option<Method>,
}

async fn dispatch<R, H, F>(
    req: Request,
    env: Env,
    arrival: Arrival,
    request_id: &RequestId,
    spec: &WorkerSpec<R>,
    handle: H,
) -> Result<Response, ApiError>
where
    R: Copy,
    H: FnOnce(R, Ctx) -> F,
    F: Future<Output = Result<Response, ApiError>>,
{
    let Arrival {
        config,
        now_ms: now,
        method,
    } = arrival;
    let development = config.environment == Environment::Development;
    let shared = if development {
        SHARED_DEVELOPMENT
    } else {
        SHARED
    };
    let dev_routes: &[Route<R>] = if development { spec.dev_routes } else { &[] };
    let path = req.path();
    let Some(method) = method else {
        // An unknown method token: still tell a served path (405) from an unknown one (404).
        let mut allow = methods_for(shared, &path);
        allow.extend(methods_for(spec.routes, &path));
        allow.extend(methods_for(dev_routes, &path));
        return Err(if allow.is_empty() {
            ApiError::NotFound
        } else {
            ApiError::MethodNotAllowed { allow }
        });
    };
    let own = match match_route(shared, method, &path) {
        Match::Found {
            route: Shared::Health,
            ..
        } => return health(&env, spec).await,
        Match::Found {
            route: Shared::DevFail,
            params,
        } => return deliberate_failure(params.get("kind")),
        Match::Found {
            route: Shared::DevNoop,
            ..
        } => return json(200, &serde_json::json!({ "status": "ok" })),
        Match::MethodNotAllowed { allow } => return Err(ApiError::MethodNotAllowed { allow }),
        Match::NotFound => match match_route(spec.routes, method, &path) {
            Match::NotFound => match_route(dev_routes, method, &path),
            own => own,
        },
    };
    match own {
        Match::Found { route, params } => {
            let ctx = Ctx {
                req,
                env,
                config,
                request_id: request_id.clone(),
                params,
                now_ms: now,
            };
            handle(route, ctx).await
        }
        Match::MethodNotAllowed { allow } => Err(ApiError::MethodNotAllowed { allow }),
        Match::NotFound => Err(served_elsewhere(spec.name, &path)
            .map_or(ApiError::NotFound, ApiError::ServedElsewhere)),
    }
}

/// The worker that serves `path` when it is another of Tollgate's (by the gateway's prefixes):
/// a caller who sent it to the wrong host learns where it goes. Unknown paths, which the
/// gateway hands the platform by default, are not claimed for it.
fn served_elsewhere(own: &str, path: &str) -> Option<&'static str> {
    use tollgate::gateway::{Upstream, upstream};
    let name = match upstream(path)? {
        Upstream::Platform if !path.starts_with("/v1/") => return None,
        Upstream::Platform => "platform",
        Upstream::Catalog => "catalog",
        Upstream::Api => "api",
        Upstream::Webhooks => "webhooks",
    };
    (name != own).then_some(name)
}

async fn health<R>(env: &Env, spec: &WorkerSpec<R>) -> Result<Response, ApiError> {
    let body = match spec.health {
        HealthProbe::Alive => Health::alive(spec.name, spec.version),
        HealthProbe::Storage => {
            Health::with_checks(spec.name, spec.version, storage::probe(env).await)
        }
    };
    let status = if body.status == HealthStatus::Ok {
        200
    } else {
        503
    };
    json(status, &body)
}

fn deliberate_failure(kind: Option<&str>) -> Result<Response, ApiError> {
    match kind {
        Some("error") => Err(ApiError::internal(
            "deliberate failure requested through /dev/fail/error",
        )),
        Some("panic") => panic!("deliberate panic requested through /dev/fail/panic"),
        _ => Err(ApiError::NotFound),
    }
}

/// A JSON response with `status`.
///
/// # Errors
/// When `body` cannot be serialized (an internal error).
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, ApiError> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// A response whose JSON body is already serialized (for answers that are also recorded).
///
/// # Errors
/// When the runtime cannot build the response.
pub fn json_text(status: u16, body: String) -> Result<Response, ApiError> {
    let response = Response::from_bytes(body.into_bytes())?.with_status(status);
    response.headers().set("Content-Type", "application/json")?;
    Ok(response)
}

/// Adds the headers every answer carries; `HEAD` answers keep the headers and drop the body.
fn finish(
    response: Response,
    request_id: &RequestId,
    head: bool,
    origin: Option<&str>,
    preflight: bool,
    credentials: bool,
) -> worker::Result<Response> {
    let headers = response.headers();
    headers.set("X-Request-Id", request_id.as_str())?;
    if let Some(origin) = origin {
        headers.set("Access-Control-Allow-Origin", origin)?;
        headers.set("Vary", "Origin")?;
        headers.set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")?;
        if credentials {
            headers.set("Access-Control-Allow-Credentials", "true")?;
        }
        if preflight {
            headers.set(
                "Access-Control-Allow-Methods",
                "GET, HEAD, POST, PUT, PATCH, DELETE",
            )?;
            headers.set("Access-Control-Allow-Headers", PREFLIGHT_HEADERS)?;
            headers.set("Access-Control-Max-Age", "600")?;
        }
    }
    // `X-Content-Type-Options` and the default `Cache-Control` are the shell's
    // (workers/shell.mjs): JavaScript sets them without a crossing.
    if head {
        let status = response.status_code();
        let headers = response.headers().clone();
        return Ok(Response::empty()?.with_status(status).with_headers(headers));
    }
    Ok(response)
}
