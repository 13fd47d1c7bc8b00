//! The hosted pages a browser visits, and the portal session route that links to one:
//!
//! - `/pay/{session}`: the checkout page. "Pay" completes the session and redirects (303) to
//!   its `success_url` with the session id filled in; "Pay by SEPA Direct Debit" does the
//!   same with a delayed method, leaving the session complete but `unpaid` until a test
//!   control settles it; "Cancel" redirects to its `cancel_url` and leaves it open. An expired or completed session shows its state and no Pay button.
//! - `/portal/{session}`: the customer's subscriptions, each with "Cancel at period end" or
//!   "Resume", and a link back to the `return_url`.
//!
//! Pages find their session by id alone (the id is the credential, as Stripe's URLs are);
//! what they change emits the same events as the API.

use crate::call::{self, Call, Cause, Outcome};
use crate::checkout::{self, Change};
use crate::http::{self, Fail};
use crate::model::params::Params;
use crate::model::{Filter, Stamp, checkout as session_rules, html, is_email, portal, text};
use crate::resources::existing;
use crate::store::{Scope, Store};
use crate::subscriptions;
use serde_json::{Value, json};
use tollgate::ids::new_id;
use tollgate_edge::{ApiError, Ctx};
use worker::Response;

/// The pages.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Page {
    Checkout,
    CheckoutAction,
    Portal,
    PortalAction,
}

pub(crate) async fn serve(page: Page, mut ctx: Ctx) -> Result<Response, ApiError> {
    let request_id = ctx.request_id.clone();
    let outcome = match page {
        Page::Checkout => checkout_page(&ctx).await,
        Page::CheckoutAction => checkout_action(&mut ctx).await,
        Page::Portal => portal_page(&ctx).await,
        Page::PortalAction => portal_action(&ctx).await,
    };
    let outcome = outcome.or_else(|fail| match fail {
        Fail::Stripe(error) => http::html(
            error.status,
            &html::notice("Something is not right", &error.message, None),
        ),
        other => Err(other),
    });
    http::answer(&request_id, outcome)
}

fn missing() -> Result<Response, Fail> {
    http::html(
        404,
        &html::notice(
            "Not found",
            "There is no such page in this Stripe sandbox.",
            None,
        ),
    )
}

fn stamp(ctx: &Ctx, scope: &Scope) -> Stamp {
    Stamp {
        now: ctx.now_ms.div_euclid(1000),
        livemode: scope.livemode,
    }
}

/// Commits a change made from a page; its events were caused by no API request.
async fn commit(ctx: &Ctx, store: &Store, change: Change) -> Result<(), Fail> {
    call::publish(
        &ctx.env,
        store,
        change.writes,
        change.events,
        &Cause::default(),
        ctx.now_ms,
    )
    .await
}

/// The session behind a checkout page, as it stands now.
async fn session(
    ctx: &Ctx,
    store: &Store,
    change: &mut Change,
) -> Result<Option<(Scope, Value)>, Fail> {
    let id = ctx.params.get("id").unwrap_or_default();
    let Some((scope, stored)) = store.find("checkout.session", id).await? else {
        return Ok(None);
    };
    let now = stamp(ctx, &scope).now;
    let current = checkout::settle(store, &scope, stored, now, change)?;
    Ok(Some((scope, current)))
}

async fn checkout_page(ctx: &Ctx) -> Result<Response, Fail> {
    let store = Store::open(&ctx.env)?;
    let mut change = Change::default();
    let Some((_, session)) = session(ctx, &store, &mut change).await? else {
        return missing();
    };
    commit(ctx, &store, change).await?;
    http::html(200, &html::checkout_page(&session))
}

async fn checkout_action(ctx: &mut Ctx) -> Result<Response, Fail> {
    let pairs = http::form_pairs(ctx).await?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    let store = Store::open(&ctx.env)?;
    let mut change = Change::default();
    let Some((scope, current)) = session(ctx, &store, &mut change).await? else {
        return missing();
    };
    if !session_rules::is_open(&current) {
        commit(ctx, &store, change).await?;
        return http::html(409, &html::checkout_page(&current));
    }
    match field("action").as_deref() {
        Some("cancel") => match text(&current, "cancel_url") {
            Some(url) => http::redirect(303, url),
            None => http::html(
                200,
                &html::notice(
                    "Checkout canceled",
                    "Nothing was charged. The session stays open.",
                    None,
                ),
            ),
        },
        Some(action @ ("pay" | "pay_delayed")) => {
            let method = if action == "pay" {
                checkout::Method::Card
            } else {
                checkout::Method::Delayed
            };
            let email = field("email").filter(|e| !e.is_empty());
            if email.as_deref().is_some_and(|e| !is_email(e)) {
                return http::html(
                    400,
                    &html::notice(
                        "Check your email",
                        "Enter a valid email address and pay again.",
                        None,
                    ),
                );
            }
            let stamp = stamp(ctx, &scope);
            let paid = checkout::complete(
                &store,
                &scope,
                &current,
                email.as_deref(),
                method,
                stamp,
                ctx.now_ms,
                &mut change,
            )
            .await?;
            commit(ctx, &store, change).await?;
            match session_rules::success_redirect(&paid) {
                Some(url) => http::redirect(303, &url),
                None => http::html(
                    200,
                    &html::notice(
                        "Payment complete",
                        "Thank you: the payment went through.",
                        None,
                    ),
                ),
            }
        }
        _ => http::html(
            400,
            &html::notice("Unknown action", "Use the Pay or Cancel button.", None),
        ),
    }
}

/// The portal session behind a portal page, its scope and its customer.
async fn portal_context(ctx: &Ctx, store: &Store) -> Result<Option<(Scope, Value, Value)>, Fail> {
    let id = ctx.params.get("id").unwrap_or_default();
    let Some((scope, session)) = store.find("billing_portal.session", id).await? else {
        return Ok(None);
    };
    let customer_id = text(&session, "customer").unwrap_or_default();
    let customer = store
        .get(&scope, "customer", customer_id)
        .await?
        .ok_or_else(|| {
            Fail::Internal(format!(
                "portal session {id} names missing customer {customer_id}"
            ))
        })?;
    Ok(Some((scope, session, customer)))
}

async fn portal_page(ctx: &Ctx) -> Result<Response, Fail> {
    let store = Store::open(&ctx.env)?;
    let Some((scope, session, customer)) = portal_context(ctx, &store).await? else {
        return missing();
    };
    let filters = [
        Filter::Eq("$.customer", json!(text(&customer, "id"))),
        Filter::NotIn("$.status", vec!["canceled", "incomplete_expired"]),
    ];
    let options = crate::model::params::ListOptions {
        limit: 100,
        starting_after: None,
        ending_before: None,
    };
    let (subscriptions, _) = store
        .list(&scope, "subscription", &filters, &options)
        .await?;
    http::html(200, &html::portal_page(&session, &customer, &subscriptions))
}

async fn portal_action(ctx: &Ctx) -> Result<Response, Fail> {
    let store = Store::open(&ctx.env)?;
    let Some((scope, session, customer)) = portal_context(ctx, &store).await? else {
        return missing();
    };
    let on = match ctx.params.get("action") {
        Some("cancel") => true,
        Some("resume") => false,
        _ => return missing(),
    };
    let sub_id = ctx.params.get("sub").unwrap_or_default();
    let subscription = store
        .get(&scope, "subscription", sub_id)
        .await?
        .filter(|s| text(s, "customer") == text(&customer, "id"));
    let Some(subscription) = subscription else {
        return missing();
    };
    let mut change = Change::default();
    let now = stamp(ctx, &scope).now;
    subscriptions::set_cancel_at_period_end(&store, &scope, &subscription, on, now, &mut change)?;
    commit(ctx, &store, change).await?;
    let back = format!("/portal/{}", text(&session, "id").unwrap_or_default());
    http::redirect(303, &back)
}

/// `POST /v1/billing_portal/sessions`.
pub(crate) async fn create_portal_session(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let new = portal::parse_create(&mut p)?;
    p.expand()?;
    p.finish()?;
    existing(call, "customer", &new.customer, "customer").await?;
    let id = new_id("bps");
    let url = format!("{}/portal/{id}", call.origin);
    let session = portal::build(&id, &new, &url, call.stamp);
    let write = call
        .store
        .insert(&call.scope, "billing_portal.session", &session, call.now_ms)?;
    Ok(Outcome::write(session, vec![write], Vec::new()))
}
