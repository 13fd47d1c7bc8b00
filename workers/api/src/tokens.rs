//! `POST /api/customer-token` (secret key): a short-lived token for one end user of this
//! project, which a browser then sends with the publishable key.

use tollgate::Detail;
use tollgate::customer_api::{CustomerToken, CustomerTokenInput};
use tollgate::end_user::{self, TokenClaims};
use tollgate_edge::lanes;
use tollgate_edge::{ApiError, Ctx, body, db, json};
use worker::Response;

pub(crate) async fn mint(mut ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let input: CustomerTokenInput = body::json(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let (user, lifetime) = input.validate().map_err(ApiError::Validation)?;
    let row = db::end_users::find(&caller.db, &caller.auth.project_id, &user)
        .await?
        .ok_or(ApiError::UnknownEndUser)?;
    let expires_at = ctx.now_ms / 1000 + lifetime;
    let claims = TokenClaims {
        project_id: caller.auth.project_id.clone(),
        end_user_id: row.id.clone(),
        version: row.token_version,
        expires_at,
    };
    let token = end_user::mint(&caller.pepper, &claims);
    let data = CustomerToken {
        token: &token,
        customer_id: &row.id,
        expires_at: expires_at * 1000,
    };
    json(200, &Detail { data })
}
