//! `GET /api/dashboard` (secret key only — a publishable key or an end-user token is refused,
//! unlike dream-api, whose console called it from browsers): the key's project, ours in
//! `data` and dream-api's `metrics`, `customers`, `tiers`, `keys`, `webhook` and `filters`
//! beside it. One D1 batch of 15 statements (`db::dashboard`), one round trip.

use tollgate::dashboard::{Filters, dream_api};
use tollgate_edge::db::dashboard::{self, Scope};
use tollgate_edge::lanes;
use tollgate_edge::{ApiError, Ctx, json};
use worker::Response;

pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let auth = &caller.auth;
    let scope = Scope::Project {
        platform_id: &auth.platform_id,
        project_id: &auth.project_id,
    };
    let (aggregates, extras) =
        dashboard::with_dream_api_extras(&caller.db, scope, ctx.now_ms).await?;
    let filters = Filters {
        mode: auth.mode.as_str(),
        project_id: &auth.project_id,
        publishable_key: &auth.publishable_key,
    };
    json(200, &dream_api(aggregates, extras, filters, ctx.now_ms))
}
