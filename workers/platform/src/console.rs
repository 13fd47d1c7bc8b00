//! The developer console's delivery: its static files (Workers Static Assets, binding
//! `CONSOLE`, built into `console/dist`) under `/console/`, with the security headers every
//! page carries, and `GET /console/config.json`, which tells the console where its identity
//! provider and the other workers are.

use serde_json::json;
use tollgate::RequestId;
use tollgate::checkout::origin_of;
use tollgate_edge::developer::DeveloperAuth;
use tollgate_edge::{ApiError, Ctx, json};
use worker::{Env, Method, Request, Response};

/// Where the console lives on the platform origin.
const BASE: &str = "/console/";

fn var(env: &Env, name: &str) -> String {
    env.var(name).map(|v| v.to_string()).unwrap_or_default()
}

/// The origins of the workers the console calls, and of its identity provider.
fn origins(env: &Env) -> Vec<String> {
    [
        "CATALOG_URL",
        "WEBHOOKS_URL",
        "PUBLIC_API_URL",
        "DEVELOPER_ISSUER",
    ]
    .iter()
    .filter_map(|name| origin_of(&var(env, name)))
    .collect()
}

/// The console's policy: its own scripts and styles only (no inline code), calls to the
/// other workers and the identity provider, images from the api worker, never framed.
fn content_security_policy(env: &Env) -> String {
    let connect = origins(env).join(" ");
    let images = origin_of(&var(env, "PUBLIC_API_URL")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: {images}; \
         connect-src 'self' {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
         object-src 'none'"
    )
}

/// Answers a console page or file, or `None` when the request is not one (the API routes
/// take it). `/` and `/console` go to `/console/`; a path under it that names no file is a
/// page of the single-page app and gets its `index.html`.
///
/// # Errors
/// Runtime failures of the assets binding.
pub(crate) async fn static_file(req: &Request, env: &Env) -> worker::Result<Option<Response>> {
    let path = req.path();
    let reads = matches!(req.method(), Method::Get | Method::Head);
    if !reads || path == "/console/config.json" {
        return Ok(None);
    }
    // Every answer carries a request id, as the API's do.
    let id = RequestId::from_incoming(req.headers().get("X-Request-Id")?.as_deref());
    if path == "/" || path == "/console" {
        let response = Response::empty()?.with_status(302);
        response.headers().set("Location", BASE)?;
        response.headers().set("X-Request-Id", id.as_str())?;
        return Ok(Some(response));
    }
    if !path.starts_with(BASE) {
        return Ok(None);
    }
    let Ok(assets) = env.assets("CONSOLE") else {
        return Ok(None);
    };
    // The files sit at the folder's root (`/console/app.js` is `app.js`); the URL is kept a
    // string, since parsing it with the `url` crate would cost ~80 KB of wasm.
    let origin = origin_of(&req.inner().url()).unwrap_or_default();
    let file = &path[BASE.len() - 1..];
    let mut found = assets.fetch(format!("{origin}{file}"), None).await?;
    let page = !path.rsplit('/').next().unwrap_or_default().contains('.');
    if found.status_code() == 404 && page {
        found = assets.fetch(format!("{origin}/"), None).await?;
    }
    if found.status_code() == 404 {
        // No such file (or no console built): the API's own 404, in the error shape.
        return Ok(None);
    }
    let headers = found.headers().clone();
    headers.set("X-Request-Id", id.as_str())?;
    headers.set("Content-Security-Policy", &content_security_policy(env))?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    headers.set("Referrer-Policy", "no-referrer")?;
    headers.set("X-Frame-Options", "DENY")?;
    headers.set(
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=()",
    )?;
    Ok(Some(found.with_headers(headers)))
}

/// `GET /console/config.json`: the identity provider the console signs in with (OIDC
/// Authorization Code + PKCE) and the workers it calls. Nothing in it is secret.
pub(crate) fn config(ctx: &Ctx) -> Result<Response, ApiError> {
    let auth = DeveloperAuth::from_env(&ctx.env)?;
    let platform = origin_of(&ctx.req.inner().url()).unwrap_or_default();
    let client_id = Some(var(&ctx.env, "CONSOLE_CLIENT_ID"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| auth.audience.clone());
    let response = json(
        200,
        &json!({
            "issuer": auth.issuer,
            "clientId": client_id,
            "audience": auth.audience,
            "scope": "openid email profile",
            "redirectPath": "/console/callback",
            "environment": var(&ctx.env, "ENVIRONMENT"),
            "urls": {
                "platform": platform,
                "catalog": var(&ctx.env, "CATALOG_URL"),
                "webhooks": var(&ctx.env, "WEBHOOKS_URL"),
                "api": var(&ctx.env, "PUBLIC_API_URL"),
            },
        }),
    )?;
    response.headers().set("Cache-Control", "no-cache")?;
    Ok(response)
}
