//! The development issuer's routes (`ENVIRONMENT=development` only): its JWKS and a token
//! endpoint that mints whatever token a local run or test needs.

use serde_json::json;
use tollgate_edge::dev_issuer::{self, TokenRequest};
use tollgate_edge::developer::DeveloperAuth;
use tollgate_edge::{ApiError, Ctx, body, json};
use worker::Response;

pub(crate) fn jwks(ctx: &Ctx) -> Result<Response, ApiError> {
    json(200, &dev_issuer::jwks(&ctx.env)?)
}

pub(crate) async fn token(mut ctx: Ctx) -> Result<Response, ApiError> {
    let request: TokenRequest = body::json(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let auth = DeveloperAuth::from_env(&ctx.env)?;
    let token = dev_issuer::mint(&ctx.env, &auth, request, ctx.now_ms / 1000).await?;
    json(200, &json!({ "data": { "token": token } }))
}
