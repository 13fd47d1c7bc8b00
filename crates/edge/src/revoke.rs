//! Revoking an order entitlement: the one path both lanes take (the secret key's
//! `POST /api/entitlements/{id}/revoke` and the console's
//! `POST /v1/projects/{id}/customers/{customerId}/entitlements/{entitlementId}/revoke`).
//! The revoke, its audit event and the developer's `entitlement.changed` deliveries are one
//! batch, so a download stops, the trail says who stopped it and the developer hears of it
//! together — or, when a racing revoke won, none of the three happens twice.

use crate::audit::{self, Actor, Change};
use crate::db::{self, entitlements::EntitlementRow};
use crate::outbound as emit;
use crate::{ApiError, Ctx};
use serde_json::json;
use tollgate::download::{Grant, OrderAccess};
use tollgate::outbound::{self, Envelope, EventType};
use worker::D1Database;

/// Which entitlement to revoke, for whom, and who asks.
#[derive(Clone, Copy, Debug)]
pub struct Revocation<'a> {
    /// The project it must belong to.
    pub project_id: &'a str,
    /// The project's mode, for the event.
    pub mode: &'a str,
    /// The `ent_…` id.
    pub id: &'a str,
    /// When set, the end user it must belong to (else 404, as for another project's).
    pub end_user_id: Option<&'a str>,
    /// Who the audit trail names.
    pub actor: Actor<'a>,
}

/// Revokes an order entitlement and answers it as revoked. A subscription's (`subr_…`)
/// follows its subscription and cannot be revoked.
///
/// # Errors
/// 404 for another project's (or end user's) entitlement, 409 `not_revocable` for a
/// subscription's, 409 `already_revoked`, storage failures.
pub async fn revoke(
    ctx: &Ctx,
    db: &D1Database,
    revocation: Revocation<'_>,
) -> Result<EntitlementRow, ApiError> {
    let Revocation {
        project_id,
        mode,
        id,
        end_user_id,
        actor,
    } = revocation;
    if Grant::of(id) == Some(Grant::Subscription) {
        return Err(ApiError::NotRevocable);
    }
    let row = db::entitlements::order_entitlement(db, project_id, id)
        .await?
        .filter(|row| end_user_id.is_none() || row.end_user_id.as_deref() == end_user_id)
        .ok_or(ApiError::NotFound)?;
    match OrderAccess::parse(&row.status) {
        Some(OrderAccess::Active) => {}
        Some(OrderAccess::Revoked) => return Err(ApiError::AlreadyRevoked),
        None => {
            return Err(ApiError::internal(format!(
                "entitlement {} has status {}",
                row.id, row.status
            )));
        }
    }
    let now = ctx.now_ms;
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
        mode,
        &data,
    );
    let results = db
        .batch(vec![
            db::entitlements::revoke(db, project_id, &row.id, now)?,
            audit::event_when(
                ctx,
                db,
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
                db,
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
    Ok(EntitlementRow {
        status: OrderAccess::Revoked.as_str().to_owned(),
        revoked_at: Some(now),
        ..row
    })
}
