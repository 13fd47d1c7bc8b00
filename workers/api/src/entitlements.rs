//! What an end user may download: `GET /api/entitlements` (their order entitlements and
//! active subscriptions) and `POST /api/entitlements/{id}/revoke` (secret key, audited), which
//! stops every download of an order entitlement at once — including links already issued.

use tollgate::Detail;
use tollgate_edge::audit::Actor;
use tollgate_edge::db;
use tollgate_edge::lanes;
use tollgate_edge::revoke::{self, Revocation};
use tollgate_edge::{ApiError, Ctx, json, list};
use worker::Response;

/// `GET /api/entitlements`: the end user's active entitlements, newest first.
pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let user = lanes::buyer(&ctx, &caller).await?;
    let page = list::page(&ctx)?;
    let (rows, total) =
        db::entitlements::list(&caller.db, &caller.auth.project_id, &user.id, page).await?;
    list::respond(rows, total, page, |row| row)
}

/// `POST /api/entitlements/{id}/revoke` (secret key): revokes an order entitlement, as the
/// console's revoke does (`tollgate_edge::revoke`).
pub(crate) async fn revoke(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let id = ctx.params.get("id").ok_or(ApiError::NotFound)?;
    let revoked = revoke::revoke(
        &ctx,
        &caller.db,
        Revocation {
            project_id: &caller.auth.project_id,
            mode: caller.auth.mode.as_str(),
            id,
            end_user_id: None,
            actor: Actor {
                platform_id: &caller.auth.platform_id,
                subject: caller.auth.key_id.as_deref().unwrap_or("secret_key"),
            },
        },
    )
    .await?;
    json(200, &Detail { data: revoked })
}
