//! The developer's own Tollgate plan: a Stripe Checkout on the operator's account (no
//! connected account), whose webhooks set the platform's billing state that gates live keys,
//! and the billing portal where the developer manages it afterwards.

use serde_json::json;
use tollgate::Mode;
use tollgate::checkout::{PlanCheckoutInput, PortalInput};
use tollgate::ids::new_id;
use tollgate::stripe::calls::{self, Operation, SessionSpec};
use tollgate_edge::db;
use tollgate_edge::idempotent::{self, Claim};
use tollgate_edge::session::Session;
use tollgate_edge::stripe::StripeClient;
use tollgate_edge::{ApiError, Ctx, Environment, body, json_text};
use worker::Response;

/// The mode the operator bills developers in: `BILLING_MODE`, else test in development and
/// live anywhere else.
fn billing_mode(ctx: &Ctx) -> Mode {
    let configured = ctx.env.var("BILLING_MODE").ok().map(|v| v.to_string());
    match (
        configured.as_deref().and_then(Mode::parse),
        ctx.config.environment,
    ) {
        (Some(mode), _) => mode,
        (None, Environment::Development) => Mode::Test,
        (None, Environment::Production) => Mode::Live,
    }
}

fn var_or(ctx: &Ctx, name: &str, default: &str) -> String {
    ctx.env
        .var(name)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| default.to_owned())
}

/// The plan's price on the operator's account: `TOLLGATE_PLAN_PRICE_ID_{TEST,LIVE}` when
/// configured, else made once (`TOLLGATE_PLAN_AMOUNT` minor units, default 2900, monthly)
/// and remembered in `operator_settings`.
async fn plan_price(
    ctx: &Ctx,
    session: &Session,
    client: &StripeClient,
    mode: Mode,
) -> Result<String, ApiError> {
    let upper = mode.as_str().to_ascii_uppercase();
    if let Ok(id) = ctx.env.var(&format!("TOLLGATE_PLAN_PRICE_ID_{upper}")) {
        return Ok(id.to_string());
    }
    let name = format!("plan_price_{}", mode.as_str());
    if let Some(id) = db::operator::setting(&session.db, &name).await? {
        return Ok(id);
    }
    let amount: i64 = var_or(ctx, "TOLLGATE_PLAN_AMOUNT", "2900")
        .parse()
        .map_err(|_| ApiError::internal("TOLLGATE_PLAN_AMOUNT is not a whole number"))?;
    let currency = var_or(ctx, "TOLLGATE_PLAN_CURRENCY", "usd");
    let version = format!("{amount}{currency}");
    let product = client
        .send(&calls::create_product(
            None,
            &Operation::new(["plan", &version, "product"]),
            "Tollgate developer plan",
            None,
            &[("tollgate_plan", "developer")],
        ))
        .await?;
    let price = client
        .send(&calls::create_price(
            None,
            &Operation::new(["plan", &version, "price"]),
            &product.id,
            amount,
            &currency,
            Some("month"),
            &[("tollgate_plan", "developer")],
        ))
        .await?;
    db::batch(
        &session.db,
        vec![db::operator::remember(
            &session.db,
            &name,
            &price.id,
            ctx.now_ms,
        )?],
    )
    .await?;
    // Another first use may have won; everyone uses the stored one.
    Ok(db::operator::setting(&session.db, &name)
        .await?
        .unwrap_or(price.id))
}

/// `POST /v1/billing/checkout` `{ successUrl, cancelUrl }` → `{ url, sessionId }`: subscribe
/// to the developer plan. Return URLs must be on the console's origins. Idempotent like
/// every other write: the key is Tollgate's (scoped to the platform), never passed through
/// to Stripe as it came.
pub(crate) async fn checkout(mut ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let mode = billing_mode(&ctx);
    let origins = crate::dev::console_origins(&ctx);
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let (success_url, cancel_url) = body::parse::<PlanCheckoutInput>(&bytes)?
        .validate(&origins, mode)
        .map_err(ApiError::Validation)?;
    let urls = (success_url.as_str(), cancel_url.as_str());
    idempotent::run(
        &ctx,
        &session.db,
        &session.platform.id,
        &bytes,
        async |claim| open_plan_checkout(&ctx, &session, mode, urls, claim).await,
    )
    .await
}

async fn open_plan_checkout(
    ctx: &Ctx,
    session: &Session,
    mode: Mode,
    (success_url, cancel_url): (&str, &str),
    claim: Option<&Claim>,
) -> Result<Response, ApiError> {
    if matches!(
        session.platform.billing_status.as_str(),
        "active" | "trialing" | "past_due"
    ) {
        return Err(ApiError::AlreadySubscribed);
    }
    let client = StripeClient::from_env(&ctx.env, mode)?;
    let price = plan_price(ctx, session, &client, mode).await?;
    let platform_id = session.platform.id.as_str();
    let customer = match &session.platform.billing_customer_id {
        Some(id) => id.clone(),
        None => {
            let made = client
                .send(&calls::create_customer(
                    None,
                    &Operation::new(["platform-customer", platform_id]),
                    session.platform.email.as_deref(),
                    &[("tollgate_platform_id", platform_id)],
                ))
                .await?;
            db::batch(
                &session.db,
                vec![db::platforms::set_billing_customer(
                    &session.db,
                    platform_id,
                    &made.id,
                    ctx.now_ms,
                )?],
            )
            .await?;
            made.id
        }
    };
    let spec = SessionSpec {
        lines: vec![(&price, 1)],
        success_url,
        cancel_url,
        customer: Some(&customer),
        customer_email: None,
        client_reference_id: Some(platform_id),
        metadata: vec![("tollgate_platform_id", platform_id)],
        trial_days: None,
        expires_at: ctx.now_ms / 1000 + 24 * 3600 - 60,
    };
    // A retry of a key whose first attempt failed reaches Stripe with the same key, so Stripe
    // answers the session it may already have opened; without a key, a fresh one.
    let key = claim.map_or_else(|| new_id("op"), |c| c.key().to_owned());
    let opened = client
        .send(&calls::create_subscription_session(
            None,
            &Operation::new(["plan-checkout", platform_id, &key]),
            &spec,
        ))
        .await?;
    let body = serde_json::to_string(
        &json!({ "url": opened.url, "sessionId": opened.id, "mode": mode.as_str() }),
    )?;
    if let Some(claim) = claim {
        let recorded = idempotent::record(ctx, &session.db, claim, 200, &body, false).await?;
        db::batch(&session.db, vec![recorded]).await?;
    }
    json_text(200, body)
}

/// `POST /v1/billing/portal` `{ returnUrl }` → `{ url }`: Stripe's billing portal for the
/// developer's own plan (payment method, invoices, cancel), on the operator's account. The
/// return URL must be on the console's origins; 404 `no_billing_account` before any plan
/// checkout made the developer a customer. Opening it changes nothing, so it is not audited.
pub(crate) async fn portal(mut ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let mode = billing_mode(&ctx);
    let origins = crate::dev::console_origins(&ctx);
    let return_url = body::json::<PortalInput>(&mut ctx.req, body::DEFAULT_LIMIT)
        .await?
        .validate(&origins, mode)
        .map_err(ApiError::Validation)?;
    let customer = session
        .platform
        .billing_customer_id
        .as_deref()
        .ok_or(ApiError::NoPlanBillingAccount)?;
    let client = StripeClient::from_env(&ctx.env, mode)?;
    let opened = client
        .send(&calls::create_portal_session(
            None,
            &Operation::new(["plan-portal", &session.platform.id, &new_id("op")]),
            customer,
            &return_url,
        ))
        .await?;
    json_text(200, serde_json::to_string(&json!({ "url": opened.url }))?)
}
