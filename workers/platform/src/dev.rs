//! The development issuer's routes (`ENVIRONMENT=development` only): its JWKS, a token
//! endpoint that mints whatever token a local run or test needs, and the OpenID Connect
//! sign-in the console uses everywhere (discovery, a sign-in form, Authorization Code + PKCE).

use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate::ids::{base62_u128, random_u128};
use tollgate::oidc::{self, Grant};
use tollgate_edge::dev_issuer::{self, TokenRequest};
use tollgate_edge::developer::DeveloperAuth;
use tollgate_edge::{ApiError, Ctx, body, json, storage};
use worker::Response;

pub(crate) fn jwks(ctx: &Ctx) -> Result<Response, ApiError> {
    json(200, &dev_issuer::jwks(&ctx.env)?)
}

pub(crate) async fn token(mut ctx: Ctx) -> Result<Response, ApiError> {
    let request: TokenRequest = body::json(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let auth = DeveloperAuth::from_env(&ctx.env)?;
    let token = dev_issuer::mint(&ctx.env, &auth, request, ctx.now_ms / 1000).await?;
    json(200, &json!({ "data": { "token": token } }))
}

/// The origins the console may be served from (`CONSOLE_ORIGINS`, lower-cased): where a
/// sign-in may send the browser back, and where the developer plan's checkout may return.
pub(crate) fn console_origins(ctx: &Ctx) -> Vec<String> {
    ctx.env
        .var("CONSOLE_ORIGINS")
        .map(|v| v.to_string())
        .unwrap_or_default()
        .split(',')
        .map(|o| o.trim().to_ascii_lowercase())
        .filter(|o| !o.is_empty())
        .collect()
}

/// `GET /.well-known/openid-configuration`: where the console finds the sign-in and token
/// endpoints, as it does for any OIDC provider.
pub(crate) fn discovery(ctx: &Ctx) -> Result<Response, ApiError> {
    let auth = DeveloperAuth::from_env(&ctx.env)?;
    let base = auth.issuer.trim_end_matches('/');
    json(
        200,
        &json!({
            "issuer": auth.issuer,
            "authorization_endpoint": format!("{base}/oauth/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "jwks_uri": auth.jwks_url,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["none"],
        }),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `GET /oauth/authorize`: the sign-in form for a valid Authorization Code + PKCE request. The
/// request is checked before the page is shown, so a bad `redirect_uri` never gets a form.
pub(crate) fn authorize_page(ctx: &Ctx) -> Result<Response, ApiError> {
    let pairs = tollgate::query_pairs(&ctx.req.inner().url());
    let origins = console_origins(ctx);
    oidc::parse_authorize(&pairs, &origins).map_err(ApiError::Validation)?;
    let hidden: String = pairs
        .iter()
        .filter(|(k, _)| k != "sub" && k != "email")
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(k),
                escape(v)
            )
        })
        .collect();
    let page = format!(
        r#"<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign in to Tollgate (development)</title>
<main><h1>Sign in to Tollgate</h1><p>Development issuer: any developer id signs in.</p>
<form method="post" action="/oauth/authorize">{hidden}
<p><label for="sub">Developer id</label><br><input id="sub" name="sub" required maxlength="255" autocomplete="username"></p>
<p><label for="email">Email</label><br><input id="email" name="email" type="email" autocomplete="email"></p>
<p><button type="submit">Sign in</button></p></form></main></html>"#
    );
    let response = Response::from_html(page)?;
    let headers = response.headers();
    headers.set(
        "Content-Security-Policy",
        &format!(
            "default-src 'none'; form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'",
            origins.join(" ")
        ),
    )?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    headers.set("Cache-Control", "no-store")?;
    Ok(response)
}

const CODE_PREFIX: &str = "oidc:code:";

/// What KV keeps for a code: the grant and when it was issued.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Issued {
    grant: Grant,
    issued_at: i64,
}

/// `POST /oauth/authorize`: the form's sign-in. Issues a one-time code bound to the request's client,
/// redirect URI and PKCE challenge, and sends the browser back with it (and the state).
pub(crate) async fn sign_in(mut ctx: Ctx) -> Result<Response, ApiError> {
    let pairs = body::form(&mut ctx.req, 16 * 1024).await?;
    let request =
        oidc::parse_authorize(&pairs, &console_origins(&ctx)).map_err(ApiError::Validation)?;
    let (sub, email) = oidc::parse_sign_in(&pairs).map_err(ApiError::Validation)?;
    let code = base62_u128(random_u128());
    let issued = Issued {
        grant: Grant {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            sub,
            email,
            signed_in_at: ctx.now_ms,
            scope: request.scope.clone(),
        },
        issued_at: ctx.now_ms,
    };
    ctx.env
        .kv(storage::CACHE)?
        .put(&format!("{CODE_PREFIX}{code}"), &issued)?
        // KV's shortest lifetime; the exchange itself refuses a code past its minute.
        .expiration_ttl(60)
        .execute()
        .await?;
    let response = Response::empty()?.with_status(302);
    response
        .headers()
        .set("Location", &oidc::redirect_back(&request, &code))?;
    response.headers().set("Cache-Control", "no-store")?;
    Ok(response)
}

/// `POST /oauth/token`: redeems a code once, for the developer token (`access_token`, the JWT
/// every developer route takes) and an ID token for the client.
pub(crate) async fn exchange(mut ctx: Ctx) -> Result<Response, ApiError> {
    let pairs = body::form(&mut ctx.req, 16 * 1024).await?;
    let code = pairs
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let unknown = || ApiError::field("code", "is unknown, used or expired");
    if code.is_empty() || code.len() > 64 {
        return Err(unknown());
    }
    let kv = ctx.env.kv(storage::CACHE)?;
    let name = format!("{CODE_PREFIX}{code}");
    let issued = kv.get(&name).json::<Issued>().await?.ok_or_else(unknown)?;
    // Spent before anything else: a code never answers twice, even a refused exchange.
    kv.delete(&name).await?;
    oidc::redeem(&issued.grant, &pairs, issued.issued_at, ctx.now_ms)
        .map_err(ApiError::Validation)?;
    let auth = DeveloperAuth::from_env(&ctx.env)?;
    let grant = issued.grant;
    let request = |aud: Option<serde_json::Value>| TokenRequest {
        sub: grant.sub.clone(),
        email: grant.email.clone(),
        aud,
        iss: None,
        expires_in: Some(3600),
        not_before: None,
        auth_age: Some((ctx.now_ms - grant.signed_in_at) / 1000),
        kid: None,
    };
    let now_s = ctx.now_ms / 1000;
    let access = dev_issuer::mint(&ctx.env, &auth, request(None), now_s).await?;
    let id = dev_issuer::mint(
        &ctx.env,
        &auth,
        request(Some(json!(grant.client_id))),
        now_s,
    )
    .await?;
    let response = json(
        200,
        &json!({ "access_token": access, "id_token": id, "token_type": "Bearer", "expires_in": 3600, "scope": grant.scope }),
    )?;
    response.headers().set("Cache-Control", "no-store")?;
    Ok(response)
}
