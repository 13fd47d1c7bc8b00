//! Who is calling the customer API: the key lanes (secret for servers, publishable for
//! browsers) and, for end-user routes, which end user the call is about. Shared by the two
//! workers that answer it, api and billing.

use crate::db::end_users::{self, EndUserRow};
use crate::developer::{self, Issuer};
use crate::keyauth::{self, Lane, ProjectAuth};
use crate::{ApiError, Ctx, db, log, ratelimit, secrets};
use tollgate::Pepper;
use tollgate::end_user::{self, TokenRefusal};
use worker::D1Database;

/// A caller whose key resolved to a project.
#[derive(Debug)]
pub struct Caller {
    /// The project the key speaks for, its mode and lane.
    pub auth: ProjectAuth,
    /// The database the key was found in.
    pub db: D1Database,
    /// The key pepper, for the end-user lookups that hash.
    pub pepper: Pepper,
}

impl Caller {
    /// The `Idempotency-Key` space of one action by one end user (`None`: a guest), so a key
    /// two end users both pick, or one reused for another action, never replays another's
    /// answer.
    pub fn key_space(&self, action: &str, end_user: Option<&str>) -> String {
        format!(
            "{}:{action}:{}",
            self.auth.project_id,
            end_user.unwrap_or("guest")
        )
    }
}

/// Any valid key: a secret key, or a publishable key (public and end-user routes), within
/// its rate limit — per secret key, or per publishable key and client address.
pub async fn any_key(ctx: &Ctx) -> Result<Caller, ApiError> {
    admit(ctx, keyauth::presented(ctx)?).await
}

/// The publishable key a URL carries (`?publishableKey=pk_…`), for the one route a browser
/// opens without headers (the checkout event stream, with its stream token).
pub async fn publishable_in_query(ctx: &Ctx) -> Result<Caller, ApiError> {
    let raw = ctx
        .query()
        .into_iter()
        .find(|(k, _)| k == "publishableKey")
        .map(|(_, v)| v)
        .ok_or(ApiError::MissingCredentials(
            "A stream token comes with the publishable key: `?publishableKey=pk_…&streamToken=cst_…`.",
        ))?;
    let key = tollgate::ApiKey::parse(raw.trim()).map_err(|_| ApiError::InvalidApiKey)?;
    if key.kind() != tollgate::KeyKind::Publishable {
        // A secret key in a URL would be logged by every proxy on the way: never take one.
        return Err(ApiError::MissingCredentials(
            "Only the publishable key may travel in a URL; a secret key never does.",
        ));
    }
    admit(ctx, key).await
}

async fn admit(ctx: &Ctx, key: tollgate::ApiKey) -> Result<Caller, ApiError> {
    let pepper = secrets::pepper(&ctx.env)?;
    let auth = keyauth::authenticate(ctx, &key, &pepper).await?;
    let bucket = match (&auth.lane, &auth.key_id) {
        (Lane::Secret, Some(key_id)) => format!("sk:{key_id}"),
        _ => format!(
            "pk:{}:{}",
            auth.project_id,
            ctx.client_ip().unwrap_or_default()
        ),
    };
    ratelimit::admit(&bucket, auth.rate_limit, ctx.now_ms)?;
    Ok(Caller {
        auth,
        db: db::database(&ctx.env)?,
        pepper,
    })
}

/// A secret key only: the developer's backend.
pub async fn server(ctx: &Ctx) -> Result<Caller, ApiError> {
    let caller = any_key(ctx).await?;
    if caller.auth.lane != Lane::Secret {
        return Err(ApiError::Forbidden(
            "This route needs the secret key (`Authorization: Bearer sk_…`), from a server.",
        ));
    }
    Ok(caller)
}

/// The end user a metering or end-user call is about.
#[derive(Debug)]
pub struct EndUserRef {
    /// `cus_…` or the developer's external id.
    pub reference: String,
    /// From a token: the token version it was minted under.
    pub token_version: Option<i64>,
}

impl EndUserRef {
    /// Refuses a token minted before the end user's tokens were revoked.
    pub fn check_version(&self, current: i64) -> Result<(), ApiError> {
        match self.token_version {
            Some(version) if version != current => Err(ApiError::InvalidEndUserToken(
                "The end-user token was revoked.",
            )),
            _ => Ok(()),
        }
    }
}

/// The headers an end-user token may come in, the first one found winning (dream-api's
/// names beside Tollgate's own).
pub const TOKEN_HEADERS: [&str; 3] = ["X-End-User-Token", "X-Clerk-Token", "X-User-Token"];

/// Secret lane: `X-User-Id` names the end user, or the end user's token does (dream-api's
/// backend mode sends `Authorization: Bearer sk_…` with the token in `X-Clerk-Token` and no
/// `X-User-Id`); when both come they must name the same end user. Publishable lane: an
/// end-user token does (in any of the headers dream-api's SDK uses) — one minted by
/// POST /api/customer-token, or an RS256 JWT from the project's own identity provider, whose
/// `sub` is the end user's externalId.
pub async fn end_user(ctx: &Ctx, caller: &Caller) -> Result<EndUserRef, ApiError> {
    let token = TOKEN_HEADERS
        .iter()
        .find_map(|name| ctx.header(name).ok().flatten());
    if caller.auth.lane == Lane::Secret {
        let named = ctx
            .header("X-User-Id")?
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty() && v.len() <= 255);
        return match (named, token) {
            (Some(reference), None) => Ok(EndUserRef {
                reference,
                token_version: None,
            }),
            (None, None) => Err(ApiError::field(
                "X-User-Id",
                "is required with a secret key: the end user's id or externalId (or send their end-user token)",
            )),
            (named, Some(token)) => {
                let from_token = token_end_user(ctx, caller, token.trim()).await?;
                if let Some(named) = named
                    && !same_end_user(caller, &named, &from_token.reference).await?
                {
                    return Err(ApiError::field(
                        "X-User-Id",
                        "names another end user than the end-user token",
                    ));
                }
                Ok(from_token)
            }
        };
    }
    let token = token.ok_or(ApiError::InvalidEndUserToken(
        "This route needs an end-user token (`X-End-User-Token`) with the publishable key.",
    ))?;
    token_end_user(ctx, caller, token.trim()).await
}

/// The end user an end-user token names: a Tollgate token (`eut_…`) or the project's own
/// identity provider's JWT.
async fn token_end_user(ctx: &Ctx, caller: &Caller, token: &str) -> Result<EndUserRef, ApiError> {
    if !token.starts_with("eut_") {
        return provider_token(ctx, caller, token).await;
    }
    let claims = end_user::verify(
        &caller.pepper,
        &caller.auth.project_id,
        token,
        ctx.now_ms / 1000,
    )
    .map_err(|refusal| {
        ApiError::InvalidEndUserToken(match refusal {
            TokenRefusal::Invalid => "The end-user token is invalid.",
            TokenRefusal::OtherProject => "The end-user token belongs to another project.",
            TokenRefusal::Expired => "The end-user token has expired.",
        })
    })?;
    Ok(EndUserRef {
        reference: claims.end_user_id,
        token_version: Some(claims.version),
    })
}

/// Whether two references (an id or an externalId each) name the same end user of the
/// project. Only a mismatch in text costs a lookup.
async fn same_end_user(caller: &Caller, a: &str, b: &str) -> Result<bool, ApiError> {
    if a == b {
        return Ok(true);
    }
    let project = caller.auth.project_id.as_str();
    let first = end_users::find(&caller.db, project, a).await?;
    let second = end_users::find(&caller.db, project, b).await?;
    Ok(matches!((first, second), (Some(x), Some(y)) if x.id == y.id))
}

/// The end user a call is about, live and with a current token.
pub async fn buyer(ctx: &Ctx, caller: &Caller) -> Result<EndUserRow, ApiError> {
    let reference = end_user(ctx, caller).await?;
    let buyer = end_users::find(&caller.db, &caller.auth.project_id, &reference.reference)
        .await?
        .ok_or(ApiError::UnknownEndUser)?;
    reference.check_version(buyer.token_version)?;
    Ok(buyer)
}

/// A JWT from the project's own identity provider (RS256, verified against its JWKS).
async fn provider_token(ctx: &Ctx, caller: &Caller, token: &str) -> Result<EndUserRef, ApiError> {
    let provider = caller
        .auth
        .end_user_issuer
        .as_ref()
        .ok_or(ApiError::InvalidEndUserToken(
            "The end-user token is invalid.",
        ))?;
    let issuer = Issuer {
        issuer: &provider.issuer,
        audience: &provider.audience,
        jwks_url: &provider.jwks_url,
        project: Some(&caller.auth.project_id),
    };
    let claims = developer::verify(&ctx.env, token, &issuer, ctx.now_ms)
        .await
        .map_err(|err| match err {
            ApiError::InvalidToken(reason) => ApiError::InvalidEndUserToken(reason.message()),
            // The project's provider failing is the project's problem: a refused token, with
            // the cause in the log for the developer to ask about.
            ApiError::JwksUnavailable(cause) => {
                log::warn(&ctx.request_id, "end_user_jwks_unavailable", &cause);
                ApiError::InvalidEndUserToken(
                    "The project's identity provider did not serve usable keys.",
                )
            }
            other => other,
        })?;
    Ok(EndUserRef {
        reference: claims.sub,
        token_version: None,
    })
}
