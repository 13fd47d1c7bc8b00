//! Stripe Connect onboarding: the consent link (fresh sign-in), Stripe's redirect back, the
//! platform's connections, and disconnecting.
//!
//! The redirect back carries no credential of ours; the single-use state is what ties it to
//! the developer who asked, and the cookie `/authorize` set is what ties it to their browser.
//! Tokens are sealed (AES-GCM) before they reach storage.

use serde_json::json;
use tollgate::Mode;
use tollgate::connect::{
    STATE_TTL_MS, State, authorize_url, browser_cookie, browser_nonce, clear_browser_cookie,
};
use tollgate::ids::{base62_fixed, random_u128};
use tollgate::stripe::calls::{Operation, oauth_deauthorize, oauth_token};
use tollgate_edge::audit::{self, Actor, Change};
use tollgate_edge::db::{self, Violation, connections::ConnectionRow};
use tollgate_edge::session::Session;
use tollgate_edge::stripe::StripeClient;
use tollgate_edge::{ApiError, Ctx, crypto, json, secrets};
use worker::{D1Database, Response};

fn mode_param(ctx: &Ctx, name: &str) -> Result<Mode, ApiError> {
    let raw = ctx
        .query()
        .into_iter()
        .find(|(k, _)| k == name)
        .map_or_else(|| "test".to_owned(), |(_, v)| v);
    Mode::parse(&raw).ok_or_else(|| ApiError::field(name, "must be test or live"))
}

fn var(ctx: &Ctx, name: &str) -> Option<String> {
    ctx.env
        .var(name)
        .ok()
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
}

fn view(row: &ConnectionRow) -> serde_json::Value {
    json!({
        "mode": row.mode,
        "accountId": row.account_id,
        "status": row.status,
        "scope": row.scope,
        "connectedAt": row.connected_at,
        "updatedAt": row.updated_at,
    })
}

/// `GET /authorize?mode=test|live`: a 302 to Stripe's consent page (the URL is also in the
/// body), or with `Accept: application/json` a 200 with the URL, for a console that calls it
/// with `fetch` (credentials included, so the browser keeps the cookie) and then navigates.
pub(crate) async fn authorize(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let mode = mode_param(&ctx, "mode")?;
    let client = StripeClient::from_env(&ctx.env, mode)?;
    let catalog_url =
        var(&ctx, "CATALOG_URL").ok_or_else(|| ApiError::internal("CATALOG_URL is not set"))?;
    let pepper = secrets::pepper(&ctx.env)?;
    let expires_at = ctx.now_ms + STATE_TTL_MS;
    let browser = base62_fixed(random_u128(), 22);
    let state = State::issue(
        &pepper,
        &base62_fixed(random_u128(), 22),
        expires_at,
        &browser,
        &session.platform.id,
        mode,
    );
    db::batch(
        &session.db,
        db::connections::save_state(
            &session.db,
            &state,
            &session.platform.id,
            mode.as_str(),
            ctx.now_ms,
            expires_at,
        )?,
    )
    .await?;
    let url = authorize_url(
        &client.authorize_base(),
        client.client_id()?,
        &state,
        &format!("{catalog_url}/callback"),
        session.developer.email.as_deref(),
    );
    let redirect = !ctx
        .header("Accept")?
        .is_some_and(|accept| accept.contains("application/json"));
    let response = json(
        if redirect { 302 } else { 200 },
        &json!({ "data": { "url": url, "mode": mode.as_str(), "expiresAt": expires_at } }),
    )?;
    if redirect {
        response.headers().set("Location", &url)?;
    }
    response
        .headers()
        .set("Set-Cookie", &browser_cookie(&browser))?;
    Ok(response)
}

/// `GET /callback`: Stripe's redirect back. With `CONSOLE_URL` configured the developer is
/// sent there with `stripe=connected` or `stripe=error&code=…`; without it the answer is JSON.
pub(crate) async fn callback(ctx: Ctx) -> Result<Response, ApiError> {
    let outcome = complete(&ctx).await;
    let Some(console) = var(&ctx, "CONSOLE_URL") else {
        let response = json(200, &json!({ "data": view(&outcome?) }))?;
        response
            .headers()
            .set("Set-Cookie", &clear_browser_cookie())?;
        return Ok(response);
    };
    let separator = if console.contains('?') { '&' } else { '?' };
    let connected = outcome.is_ok();
    let target = match outcome {
        Ok(row) => format!("{console}{separator}stripe=connected&mode={}", row.mode),
        Err(error) => {
            let code = serde_json::to_value(error.code())?;
            let code = code.as_str().unwrap_or("internal_error").to_owned();
            // The cause still reaches the log under this request id.
            let _ = error.into_response(&ctx.request_id);
            format!("{console}{separator}stripe=error&code={code}")
        }
    };
    let response = Response::empty()?.with_status(303);
    response.headers().set("Location", &target)?;
    if connected {
        response
            .headers()
            .set("Set-Cookie", &clear_browser_cookie())?;
    }
    Ok(response)
}

async fn complete(ctx: &Ctx) -> Result<ConnectionRow, ApiError> {
    let query = ctx.query();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let raw = param("state").ok_or(ApiError::InvalidOAuthState)?;
    let state = State::parse(&raw)
        .filter(|s| !s.expired(ctx.now_ms))
        .ok_or(ApiError::InvalidOAuthState)?;
    // Before the state is consumed: another browser's attempt leaves it to its developer.
    if !state.from_browser(browser_nonce(ctx.header("Cookie")?.as_deref())) {
        return Err(ApiError::ConnectBrowserMismatch);
    }
    let db = db::database(&ctx.env)?;
    let owner = db::connections::take_state(&db, &raw, ctx.now_ms)
        .await?
        .ok_or(ApiError::InvalidOAuthState)?;
    let mode = Mode::parse(&owner.mode).ok_or(ApiError::InvalidOAuthState)?;
    let pepper = secrets::pepper(&ctx.env)?;
    if !state.issued_for(&pepper, &owner.platform_id, mode) {
        return Err(ApiError::InvalidOAuthState);
    }
    if param("error").is_some() {
        return Err(ApiError::ConnectDeclined);
    }
    let code = param("code").ok_or_else(|| ApiError::field("code", "is required"))?;
    let client = StripeClient::from_env(&ctx.env, mode)?;
    let token = client
        .send(&oauth_token(
            &code,
            &Operation::new(["connect", raw.as_str()]),
        ))
        .await?;
    if token.livemode != (mode == Mode::Live) {
        return Err(ApiError::internal(format!(
            "Connect returned livemode={} for a {} connection",
            token.livemode,
            mode.as_str()
        )));
    }
    if db::connections::owner(&db, &token.stripe_user_id, mode.as_str())
        .await?
        .is_some_and(|holder| holder != owner.platform_id)
    {
        return Err(ApiError::StripeAccountInUse);
    }
    let key = secrets::data_key(&ctx.env).await?;
    // Bound to the connection's row (platform and mode) and column.
    let row_key = format!("{}:{}", owner.platform_id, mode.as_str());
    let seal = async |plain: &str, column: &str| {
        let slot = crypto::Slot {
            table: "stripe_connections",
            column,
            row: &row_key,
        };
        crypto::seal(&key, plain.as_bytes(), slot)
            .await
            .map_err(|e| ApiError::internal(format!("seal: {}", e.0)))
    };
    let access = seal(
        token.access_token.as_deref().unwrap_or_default(),
        "access_token_enc",
    )
    .await?;
    let refresh = match token.refresh_token.as_deref() {
        Some(r) => Some(seal(r, "refresh_token_enc").await?),
        None => None,
    };
    let row = ConnectionRow {
        platform_id: owner.platform_id.clone(),
        mode: mode.as_str().to_owned(),
        account_id: token.stripe_user_id.clone(),
        access_token_enc: access,
        refresh_token_enc: refresh,
        scope: token.scope.clone(),
        status: "connected".to_owned(),
        connected_at: ctx.now_ms,
        updated_at: ctx.now_ms,
    };
    let subject = db::platforms::subject_of(&db, &owner.platform_id)
        .await?
        .ok_or(ApiError::InvalidOAuthState)?;
    let mut statements = db::connections::connect(&db, &row)?;
    statements.push(audit_connection(
        ctx,
        &db,
        &owner.platform_id,
        &subject,
        "stripe.connected",
        &row,
    )?);
    db::batch(&db, statements)
        .await
        .map_err(|e| match e.violation() {
            // Another platform connected the same account between our check and this batch.
            Some(Violation::Unique(_)) => ApiError::StripeAccountInUse,
            _ => e,
        })?;
    Ok(row)
}

fn audit_connection(
    ctx: &Ctx,
    db: &D1Database,
    platform_id: &str,
    subject: &str,
    action: &str,
    row: &ConnectionRow,
) -> Result<worker::D1PreparedStatement, ApiError> {
    audit::event(
        ctx,
        db,
        Actor {
            platform_id,
            subject,
        },
        Change {
            project_id: None,
            action,
            target_type: "stripe_connection",
            target_id: &format!("{platform_id}:{}", row.mode),
        },
        &json!({ "mode": row.mode, "accountId": row.account_id }),
    )
}

/// `GET /v1/stripe/connections`: the platform's connections, never their tokens.
pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let rows = db::connections::list(&session.db, &session.platform.id).await?;
    let total = rows.len();
    json(
        200,
        &json!({ "data": rows.iter().map(view).collect::<Vec<_>>(), "total": total, "page": 1, "pageSize": total.max(1) }),
    )
}

/// `DELETE /v1/stripe/connections/{mode}` (fresh sign-in): revokes Tollgate's access on
/// Stripe, then marks the connection deauthorized. Checkouts in that mode stop until the
/// developer connects again.
pub(crate) async fn disconnect(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let mode = ctx
        .params
        .get("mode")
        .and_then(Mode::parse)
        .ok_or(ApiError::NotFound)?;
    let row = db::connections::connected(&session.db, &session.platform.id, mode.as_str())
        .await?
        .ok_or(ApiError::NotFound)?;
    let client = StripeClient::from_env(&ctx.env, mode)?;
    let operation = Operation::new([
        "deauthorize",
        row.account_id.as_str(),
        &row.connected_at.to_string(),
    ]);
    match client
        .send(&oauth_deauthorize(
            client.client_id()?,
            &row.account_id,
            &operation,
        ))
        .await
    {
        // Already revoked from Stripe's side: ours is just catching up.
        Ok(_)
        | Err(ApiError::Provider(tollgate::stripe::ProviderError {
            kind:
                tollgate::stripe::ProviderErrorKind::AccountUnavailable
                | tollgate::stripe::ProviderErrorKind::InvalidRequest,
            ..
        })) => {}
        Err(other) => return Err(other),
    }
    let revoked = ConnectionRow {
        status: "deauthorized".to_owned(),
        updated_at: ctx.now_ms,
        ..row
    };
    db::batch(
        &session.db,
        vec![
            db::connections::deauthorize(
                &session.db,
                &session.platform.id,
                mode.as_str(),
                ctx.now_ms,
            )?,
            audit_connection(
                &ctx,
                &session.db,
                &session.platform.id,
                &session.developer.subject,
                "stripe.disconnected",
                &revoked,
            )?,
        ],
    )
    .await?;
    json(200, &json!({ "data": view(&revoked) }))
}
