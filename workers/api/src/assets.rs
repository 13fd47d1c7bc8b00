//! Assets on the customer API: the developer's backend uploads, lists and deletes them with
//! the secret key (the same work as the console's routes, audited under the key's id), and
//! anyone fetches a public image by its URL. Private files never leave through here.

use tollgate::assets::public_key;
use tollgate_edge::assets::{self, Owner};
use tollgate_edge::audit::Actor;
use tollgate_edge::lanes::{self, Caller};
use tollgate_edge::{ApiError, Ctx};
use worker::Response;

/// One year: a public asset's key never names other bytes, so caches may keep it for good.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn owner(caller: &Caller) -> Owner<'_> {
    Owner {
        project_id: &caller.auth.project_id,
        actor: Actor {
            platform_id: &caller.auth.platform_id,
            // The audit trail names the secret key that acted (its id, never the key).
            subject: caller.auth.key_id.as_deref().unwrap_or("secret_key"),
        },
        db: &caller.db,
    }
}

/// `POST /api/assets` (idempotent).
pub(crate) async fn upload(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    assets::upload(ctx, owner(&caller)).await
}

/// `GET /api/assets`.
pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    assets::list(&ctx, &owner(&caller)).await
}

/// `DELETE /api/assets/{assetId}`.
pub(crate) async fn delete(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let id = ctx.params.get("assetId").ok_or(ApiError::NotFound)?;
    assets::delete(&ctx, &owner(&caller), id).await
}

/// `GET /assets/public/{projectId}/{name}`: a public image, streamed from R2 with its stored
/// type. The key is rebuilt under the literal `public/` prefix, so no path reaches a private
/// object; a deleted or unknown one answers 404.
pub(crate) async fn serve(ctx: Ctx) -> Result<Response, ApiError> {
    let key = public_key(
        ctx.params.get("projectId").unwrap_or_default(),
        ctx.params.get("name").unwrap_or_default(),
    )
    .ok_or(ApiError::NotFound)?;
    let object = assets::read(&assets::bucket(&ctx.env)?, &key, None)
        .await?
        .ok_or(ApiError::NotFound)?;
    let content_type = object
        .content_type()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let etag = object.etag().unwrap_or_default();
    let response = object.into_response()?;
    let headers = response.headers();
    headers.set("Content-Type", &content_type)?;
    headers.set("Cache-Control", IMMUTABLE)?;
    headers.set("ETag", &etag)?;
    Ok(response)
}
