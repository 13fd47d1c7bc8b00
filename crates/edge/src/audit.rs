//! Audit events for developer writes: who, what, which record, from where — built here and
//! written in the same batch as the change. Metadata is redacted JSON: callers pass names and
//! ids, never secrets.

use crate::db::{self, audit::AuditRow};
use crate::{ApiError, Ctx};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// The developer acting, on their platform.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    /// Their platform.
    pub platform_id: &'a str,
    /// Their subject at the issuer.
    pub subject: &'a str,
}

/// What changed.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    /// The project concerned, if any.
    pub project_id: Option<&'a str>,
    /// E.g. `project.created`.
    pub action: &'a str,
    /// E.g. `project`, `api_key`.
    pub target_type: &'a str,
    /// The changed record.
    pub target_id: &'a str,
}

/// The insert of one audit event for `change` by `actor` in this request.
///
/// # Errors
/// Binding failures.
pub fn event(
    ctx: &Ctx,
    db: &D1Database,
    actor: Actor<'_>,
    change: Change<'_>,
    metadata: &serde_json::Value,
) -> Result<D1PreparedStatement, ApiError> {
    event_when(ctx, db, actor, change, metadata, None)
}

/// [`event`], written only if `guard` holds when the batch reaches it (see
/// [`db::audit::insert_when`]).
///
/// # Errors
/// Binding failures.
pub fn event_when(
    ctx: &Ctx,
    db: &D1Database,
    actor: Actor<'_>,
    change: Change<'_>,
    metadata: &serde_json::Value,
    guard: Option<(&str, [JsValue; 2])>,
) -> Result<D1PreparedStatement, ApiError> {
    let user_agent = ctx
        .header("User-Agent")?
        .map(|ua| ua.chars().take(256).collect());
    db::audit::insert_when(
        db,
        &AuditRow {
            id: tollgate::ids::new_id("aud"),
            platform_id: actor.platform_id.to_owned(),
            project_id: change.project_id.map(str::to_owned),
            actor: actor.subject.to_owned(),
            action: change.action.to_owned(),
            target_type: change.target_type.to_owned(),
            target_id: change.target_id.to_owned(),
            request_id: ctx.request_id.as_str().to_owned(),
            ip: ctx.client_ip(),
            user_agent,
            metadata: metadata.to_string(),
            created_at: ctx.now_ms,
        },
        guard,
    )
}
