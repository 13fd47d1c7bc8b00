//! Connect OAuth on the sandbox's own origin (Stripe serves it from connect.stripe.com):
//!
//! 1. `GET /oauth/authorize` shows the consent page for a valid request (an invalid one gets
//!    an error page and is never redirected);
//! 2. its form posts back: "Connect" creates an account and a five-minute, single-use code
//!    and redirects (302) to `redirect_uri?code=…&scope=…&state=…`; "Cancel" redirects with
//!    `error=access_denied`;
//! 3. `POST /oauth/token` (platform secret key) exchanges the code for an access token and
//!    connects the account in the key's mode;
//! 4. `POST /oauth/deauthorize` disconnects it and emits `account.application.deauthorized`.
//!
//! Token and deauthorize errors use OAuth's shape, as Stripe's do.

use crate::call::{self, Cause};
use crate::http::{self, Fail};
use crate::model::error::StripeError;
use crate::model::events::Draft;
use crate::model::html;
use crate::model::keys::{self, SecretKey};
use crate::model::oauth::{self, CODE_LIFETIME_MS, OAuthError};
use crate::model::params::Params;
use crate::store::{Scope, Store};
use serde_json::json;
use tollgate::ids::{base62_u128, new_id, random_u128};
use tollgate_edge::{ApiError, Ctx};
use worker::Response;

/// The Connect steps.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Connect {
    AuthorizePage,
    Decide,
    Token,
    Deauthorize,
}

pub(crate) async fn serve(step: Connect, mut ctx: Ctx) -> Result<Response, ApiError> {
    let request_id = ctx.request_id.clone();
    let outcome = match step {
        Connect::AuthorizePage => authorize_page(&ctx),
        Connect::Decide => decide(&mut ctx).await,
        Connect::Token => token(&mut ctx).await,
        Connect::Deauthorize => deauthorize(&mut ctx).await,
    };
    http::answer(&request_id, outcome)
}

fn refused(error: &OAuthError) -> Result<Response, Fail> {
    http::html(
        error.status,
        &html::notice(
            "This Connect request is not valid",
            &format!("{}: {}", error.error, error.description),
            None,
        ),
    )
}

/// Step 1.
fn authorize_page(ctx: &Ctx) -> Result<Response, Fail> {
    match oauth::parse_authorize(&ctx.query()) {
        Ok(request) => http::html(200, &html::authorize_page(&request)),
        Err(error) => refused(&error),
    }
}

/// Step 2.
async fn decide(ctx: &mut Ctx) -> Result<Response, Fail> {
    let pairs = http::form_pairs(ctx).await?;
    let request = match oauth::parse_authorize(&pairs) {
        Ok(request) => request,
        Err(error) => return refused(&error),
    };
    let allowed = pairs.iter().any(|(k, v)| k == "decision" && v == "allow");
    if !allowed {
        return http::redirect(302, &oauth::denied_redirect(&request));
    }
    let store = Store::open(&ctx.env)?;
    let account = format!("acct_1{}", base62_u128(random_u128()));
    let code = new_id("ac");
    let write = store.insert_code(
        &code,
        &request.client_id,
        &account,
        &request.scope,
        ctx.now_ms + CODE_LIFETIME_MS,
    )?;
    store.commit(vec![write]).await?;
    http::redirect(302, &oauth::granted_redirect(&request, &code))
}

/// The platform key of an OAuth call: the `Authorization` header, or the `client_secret`
/// parameter Stripe also accepts.
fn platform_key(ctx: &Ctx, client_secret: Option<String>) -> Result<SecretKey, Fail> {
    let presented = keys::presented(ctx.header("Authorization")?.as_deref())
        .or(client_secret)
        .ok_or_else(|| {
            OAuthError::new(
                401,
                "invalid_client",
                "No API key provided: send your secret key in the Authorization header.",
            )
        })?;
    SecretKey::parse(&presented).ok_or_else(|| {
        OAuthError::new(
            401,
            "invalid_client",
            format!("Invalid API Key provided: {}", keys::mask(&presented)),
        )
        .into()
    })
}

/// OAuth answers parameter problems in its own shape.
fn oauth_params(error: StripeError) -> Fail {
    OAuthError::invalid_request(error.message).into()
}

/// Step 3.
async fn token(ctx: &mut Ctx) -> Result<Response, Fail> {
    let mut p = Params::new(http::params(ctx).await?);
    let client_secret = p.string("client_secret").map_err(oauth_params)?;
    let key = platform_key(ctx, client_secret)?;
    let store = Store::open(&ctx.env)?;
    call::injected_fault(ctx, &store).await?;
    let grant_type = p
        .string("grant_type")
        .map_err(oauth_params)?
        .unwrap_or_default();
    let code = p.string("code").map_err(oauth_params)?.unwrap_or_default();
    p.string("scope").map_err(oauth_params)?;
    p.finish().map_err(oauth_params)?;
    match grant_type.as_str() {
        "authorization_code" => {}
        "" => {
            return Err(OAuthError::invalid_request(
                "No grant type provided. Use grant_type=authorization_code.",
            )
            .into());
        }
        other => {
            return Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                format!("Unsupported grant type: {other}. The Stripe sandbox exchanges authorization codes only."),
            )
            .into());
        }
    }
    if code.is_empty() {
        return Err(OAuthError::invalid_request("No authorization code provided.").into());
    }
    let record = store.code(&code).await?.ok_or_else(|| {
        OAuthError::invalid_grant(format!("Authorization code does not exist: {code}"))
    })?;
    if record.used_at.is_some() {
        return Err(
            OAuthError::invalid_grant(format!("Authorization code already used: {code}")).into(),
        );
    }
    if record.expires_at <= ctx.now_ms {
        return Err(
            OAuthError::invalid_grant(format!("Authorization code expired: {code}")).into(),
        );
    }
    // Checked again atomically: of two exchanges racing for one code, one wins.
    if !store.redeem_code(&code, ctx.now_ms).await? {
        return Err(
            OAuthError::invalid_grant(format!("Authorization code already used: {code}")).into(),
        );
    }
    let mode = if key.livemode() { "live" } else { "test" };
    let access_token = format!("sk_{mode}_{}", base62_u128(random_u128()));
    let publishable_key = format!("pk_{mode}_{}", base62_u128(random_u128()));
    let refresh_token = format!("rt_{}", base62_u128(random_u128()));
    let write = store.connect(
        &record.account,
        key.livemode(),
        &record.client_id,
        &access_token,
        ctx.now_ms,
    )?;
    store.commit(vec![write]).await?;
    let body = oauth::token(
        &access_token,
        &refresh_token,
        &publishable_key,
        &record.account,
        &record.scope,
        key.livemode(),
    );
    http::stripe_json(200, &body, &ctx.request_id)
}

/// Step 4.
async fn deauthorize(ctx: &mut Ctx) -> Result<Response, Fail> {
    let mut p = Params::new(http::params(ctx).await?);
    let client_secret = p.string("client_secret").map_err(oauth_params)?;
    let key = platform_key(ctx, client_secret)?;
    let store = Store::open(&ctx.env)?;
    call::injected_fault(ctx, &store).await?;
    let client_id = p
        .string("client_id")
        .map_err(oauth_params)?
        .unwrap_or_default();
    let account = p
        .string("stripe_user_id")
        .map_err(oauth_params)?
        .unwrap_or_default();
    p.finish().map_err(oauth_params)?;
    if !oauth::is_client_id(&client_id) {
        return Err(
            OAuthError::invalid_request(format!("Invalid client_id: '{client_id}'")).into(),
        );
    }
    if account.is_empty() {
        return Err(OAuthError::invalid_request("No stripe_user_id provided.").into());
    }
    let connected = store
        .connection(&account, key.livemode())
        .await?
        .filter(|c| c.deauthorized_at.is_none() && c.client_id == client_id);
    if connected.is_none() {
        return Err(OAuthError::new(
            400,
            "invalid_client",
            format!("This application is not connected to stripe account {account}, or that account does not exist."),
        )
        .into());
    }
    let scope = Scope {
        account: account.clone(),
        livemode: key.livemode(),
    };
    let application = json!({ "id": client_id, "object": "application", "name": null });
    let event = (
        scope,
        Draft::new("account.application.deauthorized", application),
    );
    let write = store.deauthorize(&account, key.livemode(), ctx.now_ms)?;
    let cause = Cause {
        request_id: Some(ctx.request_id.as_str().to_owned()),
        idempotency_key: None,
    };
    call::publish(
        &ctx.env,
        &store,
        vec![write],
        vec![event],
        &cause,
        ctx.now_ms,
    )
    .await?;
    http::stripe_json(200, &json!({ "stripe_user_id": account }), &ctx.request_id)
}
