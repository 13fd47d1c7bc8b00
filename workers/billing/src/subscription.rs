//! Subscription management for end users: read the plan, cancel or resume it, change its
//! tier. The rules are the core's (`tollgate::subscription`) and the Stripe round trip is
//! the edge's (`tollgate_edge::subscription`), which the developer's console routes share;
//! this shell adds the key lanes: who the end user is, and that only a server ends a
//! subscription immediately.

use crate::checkout::finish;
use tollgate::Detail;
use tollgate::subscription::Route;
use tollgate_edge::audit::Actor;
use tollgate_edge::keyauth::Lane;
use tollgate_edge::lanes::{self, Caller, buyer};
use tollgate_edge::subscription::{self as flow, Owner, View};
use tollgate_edge::{ApiError, Ctx, idempotent, json};
use worker::Response;

fn owner<'a>(caller: &'a Caller, customer_id: &'a str) -> Owner<'a> {
    Owner {
        project_id: &caller.auth.project_id,
        platform_id: &caller.auth.platform_id,
        mode: caller.auth.mode,
        customer_id,
    }
}

/// `GET /api/subscription`: the plan as last applied from the provider.
pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let buyer = buyer(&ctx, &caller).await?;
    let held = flow::held(&caller.db, owner(&caller, &buyer.id)).await?;
    json(
        200,
        &Detail {
            data: View::held(held),
        },
    )
}

/// `POST /api/subscription/{cancel,resume,change}`.
pub(crate) async fn write(mut ctx: Ctx, route: Route) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let buyer = buyer(&ctx, &caller).await?;
    let (write, bytes) = flow::read_write(&mut ctx, route).await?;
    if write.immediately() && caller.auth.lane != Lane::Secret {
        return Err(ApiError::Forbidden(
            "Only the secret key (a server) can end a subscription immediately.",
        ));
    }
    let target = flow::target(&caller.db, &caller.auth.project_id, &write).await?;
    let actor = Actor {
        platform_id: &caller.auth.platform_id,
        subject: match caller.auth.lane {
            Lane::Secret => caller.auth.key_id.as_deref().unwrap_or("secret_key"),
            Lane::Publishable => buyer.id.as_str(),
        },
    };
    let scope = caller.key_space(route.step(), Some(&buyer.id));
    idempotent::run(&ctx, &caller.db, &scope, &bytes, async |claim| {
        let (view, record) = flow::execute(
            &ctx,
            &caller.db,
            owner(&caller, &buyer.id),
            &write,
            target.as_ref(),
            actor,
        )
        .await?;
        finish(&ctx, &caller, vec![record], claim, &Detail { data: view }).await
    })
    .await
}
