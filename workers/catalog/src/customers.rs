//! A project's end users for the console (`/v1/projects/{id}/customers…`, developer lane):
//! a keyset-paged, searchable list with each customer's plan, usage and subscription; one
//! customer in full; revoking an order entitlement; changing, canceling or resuming their
//! subscription (`tollgate_edge::subscription`, the end user's own rules); deleting a
//! customer. The secret key's
//! lane (`/api/customers…`, `/api/entitlements…`) keeps serving the developer's backend; both
//! lanes share their rules (`db::end_users::delete`, `tollgate_edge::revoke`), and here the
//! audit trail names the signed-in developer.

use serde_json::json;
use tollgate::Detail;
use tollgate::customers::{self, CustomerQuery};
use tollgate::subscription::Route;
use tollgate_edge::audit::{self, Change};
use tollgate_edge::db::{self, projects::ProjectRow};
use tollgate_edge::revoke::{self, Revocation};
use tollgate_edge::session::Session;
use tollgate_edge::subscription::{self as flow, Owner};
use tollgate_edge::{ApiError, Ctx, idempotent, json, json_text, meter};
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
    json(200, &customers::page(rows, query.limit, ctx.now_ms))
}

/// `GET …/customers/{customerId}`: the row, the 30-day history, the subscription in full,
/// orders and entitlements — one batch.
pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let id = customer_id(&ctx)?;
    let found = db::customers::detail(&session.db, &project.id, id, ctx.now_ms)
        .await?
        .ok_or(ApiError::NotFound)?;
    let customer = customers::detail(
        found.customer,
        &found.days,
        found.orders,
        found.entitlements,
        ctx.now_ms,
    );
    json(200, &json!({ "data": customer }))
}

/// The path's customer, a live one of the project, or 404.
async fn existing<'a>(
    ctx: &'a Ctx,
    session: &Session,
    project: &ProjectRow,
) -> Result<&'a str, ApiError> {
    let id = customer_id(ctx)?;
    if db::customers::exists(&session.db, &project.id, id).await? {
        Ok(id)
    } else {
        Err(ApiError::NotFound)
    }
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
            end_user_id: Some(customer),
            actor: session.actor(),
        },
    )
    .await?;
    // The detail's entitlement shape, so the console can put it in place of the old row.
    json(
        200,
        &json!({ "data": {
            "id": revoked.id, "source": revoked.kind, "productId": revoked.product_id, "plan": null,
            "status": revoked.status, "revokedBy": "developer", "createdAt": revoked.granted_at,
            "revokedAt": revoked.revoked_at,
        } }),
    )
}

/// `DELETE …/customers/{customerId}` (fresh sign-in): the secret key's delete — usage and
/// tokens go, billing records stay — audited in the same batch.
pub(crate) async fn delete(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let customer = existing(&ctx, &session, &project).await?;
    let now = ctx.now_ms;
    let mut statements = db::end_users::delete(&session.db, &project.id, customer, now)?;
    statements.push(audit::event_when(
        &ctx,
        &session.db,
        session.actor(),
        Change {
            project_id: Some(&project.id),
            action: "customer.deleted",
            target_type: "customer",
            target_id: customer,
        },
        &json!({}),
        Some((
            "EXISTS (SELECT 1 FROM end_users WHERE id = ?13 AND deleted_at = ?14)",
            [db::text(customer), db::int(now)],
        )),
    )?);
    let changed = db::batch(&session.db, statements).await?;
    // A racing delete won: this one deleted nothing and wrote no event. (Rows the delete's
    // trigger removes may be counted with it, so any change means this delete happened.)
    if changed.first().is_none_or(|n| *n == 0) {
        return Err(ApiError::NotFound);
    }
    meter::forget_one(&ctx.env, &ctx.request_id, &project.id, customer).await;
    json(200, &json!({ "data": { "id": customer, "deleted": true } }))
}

/// `POST …/customers/{customerId}/subscription/{cancel,resume,change}` (fresh sign-in,
/// `Idempotency-Key` honoured): the developer acts on the customer's subscription through
/// Stripe with the end user's own rules — an upgrade is invoiced to the customer and raises
/// the plan only once paid; a downgrade waits for the period's end. The developer may end it
/// immediately, as their server may. Idempotency keys share the end user's key space, so a
/// key replays the same answer on either lane. Audited as the developer.
pub(crate) async fn subscription(mut ctx: Ctx, route: Route) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let customer = existing(&ctx, &session, &project).await?.to_owned();
    let (write, bytes) = tollgate_edge::subscription::read_write(&mut ctx, route).await?;
    let mode = tollgate::Mode::parse(&project.mode).ok_or_else(|| {
        ApiError::internal(format!("project {} has mode {}", project.id, project.mode))
    })?;
    let target = flow::target(&session.db, &project.id, &write).await?;
    let owner = Owner {
        project_id: &project.id,
        platform_id: &project.platform_id,
        mode,
        customer_id: &customer,
    };
    let scope = format!("{}:{}:{customer}", project.id, route.step());
    idempotent::run(&ctx, &session.db, &scope, &bytes, async |claim| {
        let (view, record) = flow::execute(
            &ctx,
            &session.db,
            owner,
            &write,
            target.as_ref(),
            session.actor(),
        )
        .await?;
        let answer = serde_json::to_string(&Detail { data: view })?;
        let mut statements = vec![record];
        if let Some(claim) = claim {
            statements
                .push(idempotent::record(&ctx, &session.db, claim, 200, &answer, false).await?);
        }
        db::batch(&session.db, statements).await?;
        json_text(200, answer)
    })
    .await
}
