//! Protected downloads. `POST /api/downloads` (the end user's token, or the secret key with
//! `X-User-Id`) checks that an active entitlement covers the file and answers a URL carrying a
//! five-minute token bound to the project, end user, entitlement and asset.
//! `GET /api/downloads/{token}` needs nothing but the token: it checks the signature and
//! expiry, checks the entitlement and the asset again in storage, then streams the private
//! object as an attachment, with byte ranges. The token is never logged.

use tollgate::Detail;
use tollgate::assets::{ByteRange, attachment};
use tollgate::download::{
    self, DownloadClaims, DownloadInput, DownloadLink, DownloadRefusal, TOKEN_SECONDS,
};
use tollgate_edge::lanes;
use tollgate_edge::{ApiError, Ctx, assets, body, db, json, secrets};
use worker::Response;

/// `POST /api/downloads`: `{ productId | tierId | assetId }` → `{ url, expiresAt, filename, size }`.
pub(crate) async fn issue(mut ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let user = lanes::buyer(&ctx, &caller).await?;
    let target = body::json::<DownloadInput>(&mut ctx.req, body::DEFAULT_LIMIT)
        .await?
        .validate()
        .map_err(ApiError::Validation)?;
    let offer = db::entitlements::offer(&caller.db, &caller.auth.project_id, &user.id, &target)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (Some(asset_id), Some(filename), Some(size)) = (offer.asset_id, offer.filename, offer.size)
    else {
        return Err(ApiError::NoDownload);
    };
    let entitlement_id = offer.entitlement_id.ok_or(ApiError::EntitlementRequired(
        "This end user holds no active entitlement to this file: a paid order of the product or an active subscription to the tier.",
    ))?;
    let expires_at = ctx.now_ms / 1000 + TOKEN_SECONDS;
    let token = download::sign(
        &secrets::download_key(&ctx.env)?,
        &DownloadClaims {
            project_id: caller.auth.project_id.clone(),
            end_user_id: user.id,
            entitlement_id,
            asset_id,
            expires_at,
        },
    );
    let data = DownloadLink {
        url: assets::api_url(&ctx, &format!("/api/downloads/{token}")),
        expires_at: expires_at * 1000,
        filename: &filename,
        size,
    };
    json(200, &Detail { data })
}

/// `GET /api/downloads/{token}`: the file, while the token and its entitlement hold.
pub(crate) async fn fetch(ctx: Ctx) -> Result<Response, ApiError> {
    let token = ctx.params.get("token").unwrap_or_default();
    let claims = download::verify(&secrets::download_key(&ctx.env)?, token, ctx.now_ms / 1000)
        .map_err(|refusal| match refusal {
            DownloadRefusal::Invalid => ApiError::DownloadTokenInvalid,
            DownloadRefusal::Expired => ApiError::DownloadTokenExpired,
        })?;
    let state = db::entitlements::fetchable(&db::database(&ctx.env)?, &claims)
        .await?
        .filter(|state| state.active)
        .ok_or(ApiError::EntitlementRequired(
            "The entitlement behind this link was revoked or has lapsed.",
        ))?;
    let (Some(key), Some(filename), Some(content_type), Some(size)) =
        (state.r2_key, state.filename, state.content_type, state.size)
    else {
        // The asset was deleted or replaced since the link was issued.
        return Err(ApiError::NotFound);
    };
    let size = u64::try_from(size).unwrap_or_default();
    let range = ByteRange::parse(ctx.header("Range")?.as_deref(), size);
    let span = match range {
        ByteRange::Full => None,
        ByteRange::Part { start, end } => Some((start, end - start + 1)),
        ByteRange::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(size)),
    };
    let object = assets::read(&assets::bucket(&ctx.env)?, &key, span)
        .await?
        .ok_or(ApiError::NotFound)?;
    let response = object
        .into_response()?
        .with_status(if span.is_some() { 206 } else { 200 });
    let headers = response.headers();
    headers.set("Content-Type", &content_type)?;
    headers.set("Content-Disposition", &attachment(&filename))?;
    headers.set("Cache-Control", "private, no-store")?;
    headers.set("Accept-Ranges", "bytes")?;
    // The URL carries the token: never hand it to another site in a Referer.
    headers.set("Referrer-Policy", "no-referrer")?;
    if let ByteRange::Part { start, end } = range {
        headers.set("Content-Range", &format!("bytes {start}-{end}/{size}"))?;
    }
    Ok(response)
}
