//! Checkout: subscription checkout for a tier, cart checkout with reserved stock, the status
//! of a session, and the billing portal — each on the project's connected Stripe account,
//! with every price resolved on the server and every return URL on the project's origins.

use serde_json::json;
use tollgate::Detail;
use tollgate::Mode;
use tollgate::checkout::{
    CartCheckoutInput, ItemRef, ItemView, OrderOutcome, PlanNow, PortalInput, Reconciled,
    SessionKind, SessionStatus, Started, StatusDetail, StatusView, SubscriptionCheckoutInput,
    UrlView,
};
use tollgate::holds;
use tollgate::ids::new_id;
use tollgate::internal;
use tollgate::stripe::calls::{self, Operation, SessionSpec};
use tollgate::usage::Limit;
use tollgate_edge::db::catalog::{self, Listed, ProductRow};
use tollgate_edge::db::checkout::{self as store, NewOrder, Reservation, SessionRow};
use tollgate_edge::db::end_users::EndUserRow;
use tollgate_edge::db::{self, Violation};
use tollgate_edge::idempotent::{self, Claim};
use tollgate_edge::keyauth::Lane;
use tollgate_edge::lanes::{self, Caller, buyer};
use tollgate_edge::stripe::StripeClient;
use tollgate_edge::{ApiError, Ctx, body, json, json_text, ratelimit};
use worker::{D1PreparedStatement, Headers, Method, RequestInit, Response};

/// Stripe keeps a subscription checkout open a day; a cart holds stock for half an hour.
const SUBSCRIPTION_SESSION_SECONDS: i64 = 24 * 3600 - 60;
const CART_SESSION_SECONDS: i64 = 31 * 60;

fn mode(caller: &Caller) -> Mode {
    caller.auth.mode
}

/// The project's connected account and the client for its mode.
pub(crate) async fn seller(ctx: &Ctx, caller: &Caller) -> Result<(StripeClient, String), ApiError> {
    let connection =
        db::connections::connected(&caller.db, &caller.auth.platform_id, mode(caller).as_str())
            .await?
            .ok_or(ApiError::ConnectionRequired(mode(caller)))?;
    Ok((
        StripeClient::from_env(&ctx.env, mode(caller))?,
        connection.account_id,
    ))
}

/// The operation id for Stripe: the caller's `Idempotency-Key` when sent (a retry reaches
/// Stripe as the same request), else a fresh one. Scoped like our own keys, per project and
/// end user, so two buyers who pick the same key are two operations at Stripe too.
pub(crate) fn operation(
    ctx: &Ctx,
    caller: &Caller,
    step: &str,
    end_user: &str,
) -> Result<Operation, ApiError> {
    let key = ctx
        .header("Idempotency-Key")?
        .unwrap_or_else(|| new_id("op"));
    Ok(Operation::new([
        step,
        caller.auth.project_id.as_str(),
        end_user,
        key.as_str(),
    ]))
}

/// The buyer's Stripe customer, made on first need; the statement stores a new one.
async fn customer(
    ctx: &Ctx,
    caller: &Caller,
    client: &StripeClient,
    account: &str,
    buyer: &EndUserRow,
) -> Result<(String, Option<D1PreparedStatement>), ApiError> {
    if let Some(id) = &buyer.stripe_customer_id {
        return Ok((id.clone(), None));
    }
    let made = client
        .send(&calls::create_customer(
            Some(account),
            &Operation::new(["customer", buyer.id.as_str(), account]),
            buyer.email.as_deref(),
            &[
                ("tollgate_project_id", caller.auth.project_id.as_str()),
                ("tollgate_end_user_id", buyer.id.as_str()),
            ],
        ))
        .await?;
    let store = store::set_stripe_customer(&caller.db, &buyer.id, &made.id, ctx.now_ms)?;
    Ok((made.id, Some(store)))
}

/// Records the answer with the batch, then answers.
pub(crate) async fn finish(
    ctx: &Ctx,
    caller: &Caller,
    mut statements: Vec<D1PreparedStatement>,
    claim: Option<&Claim>,
    answer: &impl serde::Serialize,
) -> Result<Response, ApiError> {
    let body = serde_json::to_string(answer)?;
    if let Some(claim) = claim {
        statements.push(idempotent::record(ctx, &caller.db, claim, 200, &body, false).await?);
    }
    if !statements.is_empty() {
        db::batch(&caller.db, statements).await?;
    }
    json_text(200, body)
}

/// `POST /api/create-checkout`: `{ tier, successUrl, cancelUrl }` → `{ url, sessionId }`.
pub(crate) async fn subscription(mut ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let buyer = buyer(&ctx, &caller).await?;
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let origins = store::redirect_origins(&caller.db, &caller.auth.project_id).await?;
    let input = body::parse::<SubscriptionCheckoutInput>(&bytes)?
        .validate(&origins, mode(&caller))
        .map_err(ApiError::Validation)?;
    let scope = caller.key_space("checkout", Some(&buyer.id));
    idempotent::run(&ctx, &caller.db, &scope, &bytes, async |claim| {
        let tiers = catalog::tiers(&caller.db, &caller.auth.project_id, Listed::Selling).await?;
        let tier = tiers
            .iter()
            .find(|t| t.name == input.tier || t.id == input.tier)
            .ok_or_else(|| ApiError::field("tier", "no such tier in this project"))?;
        if tier.is_default == 1 || tier.price == 0 {
            return Err(ApiError::field(
                "tier",
                "is the free tier: there is nothing to pay",
            ));
        }
        if input
            .price_id
            .as_deref()
            .is_some_and(|p| Some(p) != tier.stripe_price_id.as_deref())
        {
            return Err(ApiError::PriceMismatch);
        }
        if store::subscribed(&caller.db, &caller.auth.project_id, &buyer.id, &tier.id).await? {
            return Err(ApiError::AlreadySubscribed);
        }
        let price = tier
            .stripe_price_id
            .as_deref()
            .ok_or(ApiError::ConnectionRequired(mode(&caller)))?;
        let (client, account) = seller(&ctx, &caller).await?;
        let (customer, remember) = customer(&ctx, &caller, &client, &account, &buyer).await?;
        // One free trial per end user and project, claimed before the session exists.
        let project = caller.auth.project_id.as_str();
        let trial = tier.trial_days > 0
            && store::claim_trial(&caller.db, project, &buyer.id, ctx.now_ms).await?;
        let expires_at = ctx.now_ms / 1000 + SUBSCRIPTION_SESSION_SECONDS;
        let spec = SessionSpec {
            lines: vec![(price, 1)],
            success_url: &input.success_url,
            cancel_url: &input.cancel_url,
            customer: Some(&customer),
            customer_email: None,
            client_reference_id: Some(&buyer.id),
            metadata: vec![
                ("tollgate_project_id", caller.auth.project_id.as_str()),
                ("tollgate_end_user_id", buyer.id.as_str()),
                ("tollgate_tier_id", tier.id.as_str()),
            ],
            trial_days: tollgate::checkout::trial_days(tier.trial_days, !trial),
            expires_at,
        };
        let opened = client
            .send(&calls::create_subscription_session(
                Some(&account),
                &operation(&ctx, &caller, "checkout", &buyer.id)?,
                &spec,
            ))
            .await;
        let settle = |id| store::settle_trial(&caller.db, project, &buyer.id, ctx.now_ms, id);
        let session = match opened {
            Ok(session) => session,
            Err(error) => {
                if trial {
                    db::batch(&caller.db, vec![settle(None)?]).await?;
                }
                return Err(error);
            }
        };
        let row = SessionRow {
            id: session.id.clone(),
            project_id: caller.auth.project_id.clone(),
            account_id: account.clone(),
            kind: SessionKind::Subscription,
            end_user_id: Some(buyer.id.clone()),
            tier_id: Some(tier.id.clone()),
            order_id: None,
            status: SessionStatus::Open,
            expires_at: expires_at * 1000,
            created_at: ctx.now_ms,
        };
        let mut statements: Vec<D1PreparedStatement> = remember.into_iter().collect();
        statements.push(store::insert_session(&caller.db, &row)?);
        if trial {
            statements.push(settle(Some(&session.id))?);
        }
        let answer = Started {
            url: session.url.as_deref(),
            session_id: &session.id,
            order_id: None,
            expires_at: row.expires_at,
            session_secret: None,
        };
        finish(&ctx, &caller, statements, claim, &answer).await
    })
    .await
}

/// The cart's lines resolved to the project's products: `(product, units)`.
fn resolve<'a>(
    lines: &std::collections::BTreeMap<ItemRef, i64>,
    products: &'a [ProductRow],
) -> Result<Vec<(&'a ProductRow, i64)>, ApiError> {
    let mut resolved: Vec<(&ProductRow, i64)> = Vec::new();
    let mut unknown = Vec::new();
    for (reference, quantity) in lines {
        let found = products.iter().find(|p| match reference {
            ItemRef::Product(id) => &p.id == id,
            ItemRef::Price(id) => p.stripe_price_id.as_deref() == Some(id.as_str()),
        });
        match (found, reference) {
            // The same product named by id and by price is one line.
            (Some(product), _) => match resolved.iter_mut().find(|(p, _)| p.id == product.id) {
                Some((_, units)) => *units += quantity,
                None => resolved.push((product, *quantity)),
            },
            (None, ItemRef::Product(id) | ItemRef::Price(id)) => {
                unknown.push(format!("{id} is not a product on sale in this project"))
            }
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::Validation(std::collections::BTreeMap::from([(
            "items".to_owned(),
            unknown,
        )])));
    }
    if resolved
        .iter()
        .any(|(_, units)| *units > tollgate::checkout::MAX_QUANTITY)
    {
        return Err(ApiError::field("items", "at most 99 units of one product"));
    }
    if resolved
        .windows(2)
        .any(|w| w[0].0.currency != w[1].0.currency)
    {
        return Err(ApiError::field(
            "items",
            "all items must share one currency",
        ));
    }
    Ok(resolved)
}

/// `POST /api/cart/checkout`: reserves the stock for the session's life, then opens a
/// payment session. A guest needs only the publishable key.
pub(crate) async fn cart(mut ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    // The buyer is named by an end-user token on either lane, or by X-User-Id from a server
    // (the rule of `lanes::end_user`); anyone else is a guest.
    let token = lanes::TOKEN_HEADERS
        .iter()
        .any(|h| ctx.header(h).ok().flatten().is_some());
    let named = token || (caller.auth.lane == Lane::Secret && ctx.header("X-User-Id")?.is_some());
    let buyer = if named {
        Some(buyer(&ctx, &caller).await?)
    } else {
        None
    };
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let project = caller.auth.project_id.as_str();
    let (origins, limits) = store::settings(&caller.db, project).await?;
    let cart = body::parse::<CartCheckoutInput>(&bytes)?
        .validate(&origins, mode(&caller))
        .map_err(ApiError::Validation)?;
    // A guest in the public lane is known by its client address (and email): it is paced
    // per address before any write or Stripe call, and its keys and holds are its own.
    let guest = (buyer.is_none() && caller.auth.lane == Lane::Publishable)
        .then(|| ctx.client_ip().unwrap_or_default());
    if let Some(ip) = &guest {
        let pace = u32::try_from(limits.guest_carts_per_minute).unwrap_or(u32::MAX);
        ratelimit::admit_per(&format!("guest-cart:{project}:{ip}"), pace, 60, ctx.now_ms)?;
    }
    let guest_id = guest
        .as_ref()
        .map(|ip| holds::guest_id(&caller.pepper, project, cart.email.as_deref(), ip));
    let scope = caller.key_space(
        "cart",
        buyer
            .as_ref()
            .map(|b| b.id.as_str())
            .or(guest_id.as_deref()),
    );
    idempotent::run(&ctx, &caller.db, &scope, &bytes, async |claim| {
        release_lapsed(&ctx, &caller).await?;
        let (ids, prices) = cart.references();
        let products = store::cart_products(&caller.db, project, &ids, &prices).await?;
        let lines = resolve(&cart.lines, &products)?;
        let mut priced = Vec::new();
        for (product, units) in &lines {
            let price = product
                .stripe_price_id
                .as_deref()
                .ok_or(ApiError::ConnectionRequired(mode(&caller)))?;
            priced.push((price, *units));
        }
        let (client, account) = seller(&ctx, &caller).await?;
        let order_id = new_id("ord");
        let reservations: Vec<Reservation<'_>> = lines
            .iter()
            .map(|(p, units)| Reservation {
                product_id: &p.id,
                quantity: *units,
                unit_amount: p.price,
            })
            .collect();
        let email = cart
            .email
            .as_deref()
            .or_else(|| buyer.as_ref().and_then(|b| b.email.as_deref()));
        let client_key = guest
            .as_ref()
            .map(|ip| holds::client_key(&caller.pepper, project, ip));
        let order = NewOrder {
            id: &order_id,
            project_id: project,
            end_user_id: buyer.as_ref().map(|b| b.id.as_str()),
            email,
            client_key: client_key.as_deref(),
            currency: lines.first().map_or("usd", |(p, _)| p.currency.as_str()),
        };
        // The developer's server buying for a guest it vouches for is not limited per buyer.
        let capped = (buyer.is_some() || guest.is_some()).then_some(&limits);
        let hold = store::reserve(&caller.db, &order, &reservations, capped, ctx.now_ms)?;
        match db::batch(&caller.db, hold).await {
            Ok(changed) if changed.first() == Some(&0) => {
                let full = guest.is_some()
                    && store::guest_carts_full(&caller.db, project, limits.guest_carts).await?;
                return Err(if full {
                    ApiError::GuestCartsFull
                } else {
                    ApiError::HoldLimitReached
                });
            }
            Ok(_) => {}
            Err(error) if error.violation() == Some(Violation::Check) => {
                let wanted: Vec<(&str, i64)> = lines
                    .iter()
                    .map(|(p, units)| (p.id.as_str(), *units))
                    .collect();
                let short = store::short(&caller.db, project, &wanted).await?;
                return Err(ApiError::SoldOut(if short.is_empty() {
                    lines.iter().map(|(p, _)| p.name.clone()).collect()
                } else {
                    short
                }));
            }
            Err(other) => return Err(other),
        }
        let opened = open_cart_session(
            &ctx,
            &caller,
            &client,
            &account,
            &order_id,
            &priced,
            &cart,
            buyer.as_ref(),
            email,
        )
        .await;
        let (session, expires_at) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                // No session, no hold: the stock goes back at once.
                db::batch(
                    &caller.db,
                    store::release(&caller.db, &order_id, ctx.now_ms)?,
                )
                .await?;
                return Err(error);
            }
        };
        let row = SessionRow {
            id: session.id.clone(),
            project_id: caller.auth.project_id.clone(),
            account_id: account.clone(),
            kind: SessionKind::Payment,
            end_user_id: buyer.as_ref().map(|b| b.id.clone()),
            tier_id: None,
            order_id: Some(order_id.clone()),
            status: SessionStatus::Open,
            expires_at: expires_at * 1000,
            created_at: ctx.now_ms,
        };
        let statements = vec![store::insert_session(&caller.db, &row)?];
        let answer = Started {
            url: session.url.as_deref(),
            session_id: &session.id,
            order_id: Some(&order_id),
            expires_at: row.expires_at,
            session_secret: guest
                .is_some()
                .then(|| holds::session_secret(&caller.pepper, &session.id)),
        };
        let finished = finish(&ctx, &caller, statements, claim, &answer).await;
        if finished.is_err() {
            // Without our row no webhook could ever settle this order: close the session on
            // Stripe so nobody pays for it, and give the stock back.
            let closed = client
                .send(&calls::expire_checkout_session(
                    &account,
                    &session.id,
                    &Operation::new(["cart-abandon", order_id.as_str()]),
                ))
                .await;
            if let Err(error) = closed {
                tollgate_edge::log::warn(&ctx.request_id, "cart_abandon", &error.for_log());
            }
            db::batch(
                &caller.db,
                store::release(&caller.db, &order_id, ctx.now_ms)?,
            )
            .await?;
        }
        finished
    })
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "one session's facts, each needed"
)]
async fn open_cart_session(
    ctx: &Ctx,
    caller: &Caller,
    client: &StripeClient,
    account: &str,
    order_id: &str,
    priced: &[(&str, i64)],
    cart: &tollgate::checkout::Cart,
    buyer: Option<&EndUserRow>,
    email: Option<&str>,
) -> Result<(tollgate::stripe::objects::CheckoutSession, i64), ApiError> {
    let customer = match buyer {
        Some(b) => {
            let (id, remember) = customer(ctx, caller, client, account, b).await?;
            if let Some(statement) = remember {
                db::batch(&caller.db, vec![statement]).await?;
            }
            Some(id)
        }
        None => None,
    };
    let expires_at = ctx.now_ms / 1000 + CART_SESSION_SECONDS;
    let spec = SessionSpec {
        lines: priced.to_vec(),
        success_url: &cart.success_url,
        cancel_url: &cart.cancel_url,
        customer: customer.as_deref(),
        customer_email: if customer.is_some() { None } else { email },
        client_reference_id: buyer.map(|b| b.id.as_str()),
        metadata: vec![
            ("tollgate_project_id", caller.auth.project_id.as_str()),
            ("tollgate_order_id", order_id),
        ],
        trial_days: None,
        expires_at,
    };
    let session = client
        .send(&calls::create_payment_session(
            account,
            &Operation::new(["cart", order_id]),
            &spec,
        ))
        .await?;
    Ok((session, expires_at))
}

/// Gives back the stock of the project's carts whose sessions lapsed (lazy release; the
/// expiry webhook does the same, and whichever comes second changes nothing).
async fn release_lapsed(ctx: &Ctx, caller: &Caller) -> Result<(), ApiError> {
    let lapsed = store::lapsed_orders(&caller.db, &caller.auth.project_id, ctx.now_ms).await?;
    let mut statements = Vec::new();
    for order in &lapsed {
        statements.extend(store::release(&caller.db, order, ctx.now_ms)?);
    }
    if !statements.is_empty() {
        db::batch(&caller.db, statements).await?;
    }
    Ok(())
}

/// The header a guest sends its cart's `sessionSecret` in.
const SECRET_HEADER: &str = "X-Checkout-Secret";

/// Whether the caller owns the session, beyond knowing its id (which travels in success URLs
/// and `Referer`): the secret key; the session's own end user, by their token; or, for a
/// guest's cart, the `sessionSecret` its creation answered.
pub(crate) async fn owns(ctx: &Ctx, caller: &Caller, row: &SessionRow) -> Result<bool, ApiError> {
    let secret = ctx.header(SECRET_HEADER)?;
    // A malformed secret is refused whoever sends it, the secret key included: a bad header
    // never passes unnoticed.
    if secret
        .as_deref()
        .is_some_and(|s| !holds::is_session_secret(s.trim()))
    {
        return Err(NOT_OWNER);
    }
    if caller.auth.lane == Lane::Secret {
        return Ok(true);
    }
    if let Some(secret) = secret {
        return Ok(row.end_user_id.is_none()
            && holds::session_secret_matches(&caller.pepper, &row.id, secret.trim()));
    }
    if lanes::TOKEN_HEADERS
        .iter()
        .any(|h| ctx.header(h).ok().flatten().is_some())
    {
        let buyer = buyer(ctx, caller).await?;
        return Ok(row.end_user_id.as_deref() == Some(buyer.id.as_str()));
    }
    Ok(false)
}

/// The refusal of a session route to a caller who only knows the session id.
pub(crate) const NOT_OWNER: ApiError = ApiError::Forbidden(
    "This needs the session's end-user token, the cart's X-Checkout-Secret, or the secret key.",
);

/// `GET /api/checkout/{sessionId}`: what a success page needs, without waiting for the
/// webhook — while our record is open, Stripe is asked. A session complete but unpaid (a
/// delayed method) reads `pending_payment`, never paid. Whoever knows only the session id
/// learns only whether it is paid.
pub(crate) async fn status(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let id = ctx.params.get("sessionId").ok_or(ApiError::NotFound)?;
    let row = store::session(&caller.db, &caller.auth.project_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let full = owns(&ctx, &caller, &row).await?;
    // Answered in the public words (`awaiting_payment` reads `pending_payment`), which are
    // also Stripe's.
    let (mut status, mut paid) = (
        row.status.public().to_owned(),
        row.status == SessionStatus::Complete,
    );
    if row.status == SessionStatus::Open {
        let client = StripeClient::from_env(&ctx.env, mode(&caller))?;
        match client
            .send(&calls::retrieve_checkout_session(&row.account_id, &row.id))
            .await
        {
            Ok(session) => {
                paid = session.is_paid();
                status = match session.status {
                    // Complete at Stripe, the delayed payment not yet in.
                    Some(s) if s == "complete" && !paid => "pending_payment".to_owned(),
                    Some(s) => s,
                    None => status,
                };
            }
            // Stripe unreachable: our own record still answers.
            Err(error) => {
                tollgate_edge::log::warn(&ctx.request_id, "checkout_status", &error.for_log())
            }
        }
    }
    let lines = match (&row.order_id, full) {
        (Some(order), true) => {
            Some(store::order_lines(&caller.db, &caller.auth.project_id, order).await?)
        }
        _ => None,
    };
    let detail = full.then(|| StatusDetail {
        mode: row.kind,
        items: lines.as_ref().map(|lines| {
            lines
                .iter()
                .map(|l| ItemView {
                    product_id: &l.product_id,
                    name: &l.name,
                    quantity: l.quantity,
                    unit_amount: l.unit_amount,
                })
                .collect()
        }),
        customer: row.end_user_id.as_deref(),
        expires_at: row.expires_at,
    });
    json(
        200,
        &StatusView {
            session_id: &row.id,
            status: &status,
            paid,
            detail,
        },
    )
}

/// `POST /api/checkout/{sessionId}/reconcile`: applies a paid session now (`paid` or
/// `no_payment_required`; complete but unpaid answers `pending_payment` and grants nothing)
/// instead of waiting for its webhook — through the webhooks worker, over the `WEBHOOKS`
/// service binding, by the code that applies `checkout.session.completed` — then answers the
/// final entitlement state.
/// Applying is exactly once: a later webhook (or reconcile) for the session changes nothing.
pub(crate) async fn reconcile(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let id = ctx.params.get("sessionId").ok_or(ApiError::NotFound)?;
    let project = caller.auth.project_id.as_str();
    let mut row = store::session(&caller.db, project, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !owns(&ctx, &caller, &row).await? {
        return Err(NOT_OWNER);
    }
    // In the public words, as the webhooks worker's answer is.
    let (mut status, mut applied) = (row.status.public().to_owned(), false);
    // An unpaid completion waits for its money: Stripe may have it by now.
    if row.status.may_complete() {
        let ask = serde_json::to_string(
            &json!({ "sessionId": row.id, "projectId": project, "at": ctx.now_ms }),
        )?;
        let headers = Headers::new();
        headers.set(
            internal::HEADER,
            &internal::sign(&caller.pepper, ask.as_bytes()),
        )?;
        headers.set("Content-Type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(ask.into()));
        // The host is never resolved: a service binding goes straight to the worker.
        let mut answer = ctx
            .env
            .service("WEBHOOKS")?
            .fetch("https://webhooks.internal/internal/reconcile", Some(init))
            .await?;
        if answer.status_code() != 200 {
            // The webhooks worker's own error (Stripe refused or unreachable), as it answered.
            return json_text(answer.status_code(), answer.text().await?);
        }
        let answer: serde_json::Value = answer.json().await?;
        applied = answer["receipt"]["outcome"] == "applied";
        status = answer["status"].as_str().unwrap_or("open").to_owned();
        row = store::session(&caller.db, project, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if row.status != SessionStatus::Open {
            status = row.status.public().to_owned();
        }
    }
    let (mut order, mut allowance) = (None, None);
    if let Some(id) = &row.order_id {
        if let Some(state) = store::order_state(&caller.db, project, id).await? {
            let entitlements: Vec<String> = serde_json::from_str(&state.products)?;
            order = Some(OrderOutcome {
                id,
                status: state.status,
                entitlements,
            });
        }
    } else if let Some(user) = &row.end_user_id {
        allowance = tollgate_edge::db::usage::allowance(&caller.db, project, user).await?;
    }
    let data = Reconciled {
        session_id: &row.id,
        status: &status,
        mode: row.kind,
        applied,
        order,
        allowance: allowance.as_ref().map(|a| PlanNow {
            plan: a.tier_name.as_deref(),
            limit: Limit::from_column(a.usage_limit),
        }),
    };
    json(200, &Detail { data })
}

/// `POST /api/customer-portal`: `{ returnUrl }` → `{ url }` for the end user's customer.
pub(crate) async fn portal(mut ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let buyer = buyer(&ctx, &caller).await?;
    let origins = store::redirect_origins(&caller.db, &caller.auth.project_id).await?;
    let return_url = body::json::<PortalInput>(&mut ctx.req, body::DEFAULT_LIMIT)
        .await?
        .validate(&origins, mode(&caller))
        .map_err(ApiError::Validation)?;
    let customer = buyer
        .stripe_customer_id
        .as_deref()
        .ok_or(ApiError::NoBillingAccount)?;
    let (client, account) = seller(&ctx, &caller).await?;
    let session = client
        .send(&calls::create_portal_session(
            Some(&account),
            &operation(&ctx, &caller, "portal", &buyer.id)?,
            customer,
            &return_url,
        ))
        .await?;
    json(200, &UrlView { url: &session.url })
}
