//! What an end user may download: `GET /api/entitlements` (their order entitlements and
//! active subscriptions) and `POST /api/entitlements/{id}/revoke` (secret key, audited), which
//! stops every download of an order entitlement at once — including links already issued.

use crate::lanes;
use serde_json::json;
use tollgate::download::Grant;
use tollgate::outbound::{self, Envelope, EventType};
use tollgate_edge::audit::{self, Actor, Change};
use tollgate_edge::db::{self, entitlements::EntitlementRow};
use tollgate_edge::outbound as emit;
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
    // The buyer's access ends with the row: `entitlement.changed` is fanned out in the same
    // batch, and only if this revoke is the one that happened (a racing revoke writes none).
    let event_id = outbound::event_id(
        EventType::EntitlementChanged,
        &format!("revoked:{}", row.id),
    );
    let data = json!({
        "change": "revoked",
        "source": "order",
        "endUserId": row.end_user_id,
        "orderId": row.order_id,
        "productIds": [row.product_id],
        "entitlementId": row.id,
    });
    let event = Envelope::new(
        &event_id,
        EventType::EntitlementChanged,
        now,
        project_id,
        caller.auth.mode.as_str(),
        &data,
    );
    let results = caller
        .db
        .batch(vec![
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
            emit::fan_out(
                &caller.db,
                &event,
                Some((
                    "EXISTS (SELECT 1 FROM entitlements WHERE id = ?8 AND revoked_at = ?9)",
                    vec![db::text(&row.id), db::int(now)],
                )),
            )?,
        ])
        .await?;
    let changed = results
        .first()
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0);
    // A concurrent revoke won: this one changed nothing.
    if changed != 1 {
        return Err(ApiError::AlreadyRevoked);
    }
    if let Some(fanned) = results.get(2) {
        emit::enqueue(&ctx.env, &ctx.request_id, &emit::written(fanned)?).await;
    }
    let revoked = EntitlementRow {
        status: "revoked".to_owned(),
        revoked_at: Some(now),
        ..row
    };
    json(200, &json!({ "data": revoked }))
}
