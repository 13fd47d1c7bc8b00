//! What an end user may download: `GET /api/entitlements` (their order entitlements and
//! active subscriptions) and `POST /api/entitlements/{id}/revoke` (secret key, audited), which
//! stops every download of an order entitlement at once — including links already issued.

use crate::lanes;
use serde_json::json;
use tollgate::download::Grant;
use tollgate_edge::audit::{self, Actor, Change};
use tollgate_edge::db::{self, entitlements::EntitlementRow};
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

/// `POST /api/entitlements/{id}/revoke` (secret key): revokes an order entitlement.
pub(crate) async fn revoke(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let id = ctx.params.get("id").ok_or(ApiError::NotFound)?;
    if Grant::of(id) == Some(Grant::Subscription) {
        return Err(ApiError::NotRevocable);
    }
    let project_id = caller.auth.project_id.as_str();
    let row = db::entitlements::order_entitlement(&caller.db, project_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if row.status != "active" {
        return Err(ApiError::AlreadyRevoked);
    }
    let now = ctx.now_ms;
    let actor = Actor {
        platform_id: &caller.auth.platform_id,
        subject: caller.auth.key_id.as_deref().unwrap_or("secret_key"),
    };
    let changed = db::batch(
        &caller.db,
        vec![
            db::entitlements::revoke(&caller.db, project_id, &row.id, now)?,
            audit::event_when(
                &ctx,
                &caller.db,
                actor,
                Change {
                    project_id: Some(project_id),
                    action: "entitlement.revoked",
                    target_type: "entitlement",
                    target_id: &row.id,
                },
                &json!({ "orderId": row.order_id, "productId": row.product_id, "customerId": row.end_user_id }),
                Some((
                    "EXISTS (SELECT 1 FROM entitlements WHERE id = ?13 AND revoked_at = ?14)",
                    [db::text(&row.id), db::int(now)],
                )),
            )?,
        ],
    )
    .await?;
    // A concurrent revoke won: this one changed nothing.
    if changed.first() != Some(&1) {
        return Err(ApiError::AlreadyRevoked);
    }
    let revoked = EntitlementRow {
        status: "revoked".to_owned(),
        revoked_at: Some(now),
        ..row
    };
    json(200, &json!({ "data": revoked }))
}
