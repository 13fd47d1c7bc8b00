//! A project's end users for the console (`/v1/projects/{id}/customers…`, developer lane):
//! a keyset-paged, searchable list with each customer's plan, usage and subscription; one
//! customer in full; revoking an order entitlement; deleting a customer. The secret key's
//! lane (`/api/customers…`, `/api/entitlements…`) keeps serving the developer's backend; both
//! lanes share their rules (`db::end_users::delete`, `tollgate_edge::revoke`), and here the
//! audit trail names the signed-in developer.

use serde_json::json;
use tollgate::customers::{self, CustomerPage, CustomerQuery, EntitlementView};
use tollgate_edge::audit::{self, Change};
use tollgate_edge::db::{self, projects::ProjectRow};
use tollgate_edge::revoke::{self, Revocation};
use tollgate_edge::session::Session;
use tollgate_edge::{ApiError, Ctx, json};
use worker::Response;

/// The path's `{customerId}`: a `cus_…` id (the console links by it, never by external id).
fn customer_id(ctx: &Ctx) -> Result<&str, ApiError> {
    ctx.params
        .get("customerId")
        .filter(|id| id.starts_with("cus_"))
        .ok_or(ApiError::NotFound)
}

/// `GET …/customers?search=&limit=&cursor=`: newest first, one statement per page.
pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let pairs = ctx.query();
    let query = CustomerQuery::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(ApiError::Validation)?;
    let rows = db::customers::page(&session.db, &project.id, &query, ctx.now_ms).await?;
    json(200, &CustomerPage::from_rows(rows, query.limit, ctx.now_ms))
}

/// `GET …/customers/{customerId}`: the row, the 30-day history, the subscription in full,
/// orders and entitlements — one batch.
pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let id = customer_id(&ctx)?;
    let rows = db::customers::detail(&session.db, &project.id, id, ctx.now_ms)
        .await?
        .ok_or(ApiError::NotFound)?;
    json(200, &json!({ "data": customers::detail(rows, ctx.now_ms) }))
}

async fn existing(
    ctx: &Ctx,
    session: &Session,
    project: &ProjectRow,
) -> Result<db::end_users::EndUserRow, ApiError> {
    let id = customer_id(ctx)?;
    db::end_users::find(&session.db, &project.id, id)
        .await?
        .filter(|row| row.id == id)
        .ok_or(ApiError::NotFound)
}

/// `POST …/customers/{customerId}/entitlements/{entitlementId}/revoke`: the secret key's
/// revoke, for an entitlement of this customer, by the signed-in developer.
pub(crate) async fn revoke(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let customer = existing(&ctx, &session, &project).await?;
    let id = ctx.params.get("entitlementId").ok_or(ApiError::NotFound)?;
    let revoked = revoke::revoke(
        &ctx,
        &session.db,
        Revocation {
            project_id: &project.id,
            mode: &project.mode,
            id,
            end_user_id: Some(&customer.id),
            actor: session.actor(),
        },
    )
    .await?;
    let view = EntitlementView {
        id: revoked.id,
        source: revoked.kind,
        product_id: revoked.product_id,
        plan: None,
        status: revoked.status,
        revoked_by: Some("developer".to_owned()),
        created_at: revoked.granted_at,
        revoked_at: revoked.revoked_at,
    };
    json(200, &json!({ "data": view }))
}

/// `DELETE …/customers/{customerId}` (fresh sign-in): the secret key's delete — usage and
/// tokens go, billing records stay — audited in the same batch.
pub(crate) async fn delete(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let customer = existing(&ctx, &session, &project).await?;
    let now = ctx.now_ms;
    let mut statements = db::end_users::delete(&session.db, &project.id, &customer.id, now)?;
    statements.push(audit::event_when(
        &ctx,
        &session.db,
        session.actor(),
        Change {
            project_id: Some(&project.id),
            action: "customer.deleted",
            target_type: "customer",
            target_id: &customer.id,
        },
        &json!({ "externalId": customer.external_id }),
        Some((
            "EXISTS (SELECT 1 FROM end_users WHERE id = ?13 AND deleted_at = ?14)",
            [db::text(&customer.id), db::int(now)],
        )),
    )?);
    let changed = db::batch(&session.db, statements).await?;
    // A racing delete won: this one deleted nothing and wrote no event. (Rows the delete's
    // trigger removes may be counted with it, so any change means this delete happened.)
    if changed.first().is_none_or(|n| *n == 0) {
        return Err(ApiError::NotFound);
    }
    json(
        200,
        &json!({ "data": { "id": customer.id, "deleted": true } }),
    )
}
