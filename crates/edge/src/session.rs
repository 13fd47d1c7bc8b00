//! The signed-in developer behind a request, with their platform (created on first use): the
//! developer lanes of the `platform` and `catalog` workers; and the operators' admin lane.

use crate::audit::Actor;
use crate::db::{self, platforms::PlatformRow};
use crate::developer::{self, Developer, DeveloperAuth};
use crate::{ApiError, Ctx};
use worker::D1Database;

/// A verified developer, their platform, and the database.
#[derive(Debug)]
pub struct Session {
    /// The verified developer.
    pub developer: Developer,
    /// Their platform.
    pub platform: PlatformRow,
    /// The database.
    pub db: D1Database,
    fresh_seconds: i64,
}

impl Session {
    /// Verifies the bearer token and loads (or creates) the platform.
    pub async fn start(ctx: &Ctx) -> Result<Self, ApiError> {
        let auth = DeveloperAuth::from_env(&ctx.env)?;
        let developer = developer::authenticate(&ctx.req, &ctx.env, &auth, ctx.now_ms).await?;
        let db = db::database(&ctx.env)?;
        let platform = db::platforms::ensure(
            &db,
            &developer.issuer,
            &developer.subject,
            developer.email.as_deref(),
            ctx.now_ms,
        )
        .await?;
        Ok(Self {
            developer,
            platform,
            db,
            fresh_seconds: auth.fresh_seconds,
        })
    }

    /// Like [`Session::start`], for writes that need a recent sign-in.
    pub async fn start_fresh(ctx: &Ctx) -> Result<Self, ApiError> {
        let session = Self::start(ctx).await?;
        session
            .developer
            .require_fresh(ctx.now_ms / 1000, session.fresh_seconds)?;
        Ok(session)
    }

    /// The actor for audit events.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            platform_id: &self.platform.id,
            subject: &self.developer.subject,
        }
    }

    /// One of the platform's live projects, or 404 (also for another platform's project).
    pub async fn project(&self, ctx: &Ctx) -> Result<db::projects::ProjectRow, ApiError> {
        let id = ctx.params.get("id").ok_or(ApiError::NotFound)?;
        db::projects::get(&self.db, &self.platform.id, id)
            .await?
            .ok_or(ApiError::NotFound)
    }
}

/// A verified Tollgate operator: a developer identity on the `OPERATOR_SUBJECTS` allow-list
/// (`sub` or `iss|sub`, comma-separated). The admin lane; no platform is created for it.
#[derive(Debug)]
pub struct Operator {
    /// The verified identity.
    pub developer: Developer,
    /// The database.
    pub db: D1Database,
}

impl Operator {
    /// Verifies the bearer token (401 without one), then the allow-list (403 for anyone
    /// else, whatever the route); `fresh` also demands a recent sign-in, as writes do.
    pub async fn start(ctx: &Ctx, fresh: bool) -> Result<Self, ApiError> {
        let auth = DeveloperAuth::from_env(&ctx.env)?;
        let developer = developer::authenticate(&ctx.req, &ctx.env, &auth, ctx.now_ms).await?;
        let allowed = ctx
            .env
            .var("OPERATOR_SUBJECTS")
            .map(|v| v.to_string())
            .unwrap_or_default();
        if !tollgate::operators::Operators::parse(&allowed)
            .allows(&developer.issuer, &developer.subject)
        {
            return Err(ApiError::Forbidden(
                "this route is for Tollgate operators only",
            ));
        }
        if fresh {
            developer.require_fresh(ctx.now_ms / 1000, auth.fresh_seconds)?;
        }
        Ok(Self {
            developer,
            db: db::database(&ctx.env)?,
        })
    }
}
