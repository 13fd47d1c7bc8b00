//! Secret keys of a project: metadata listing, rotation (the new key's single reveal, the old
//! key alive for its grace period) and immediate revocation.

use serde_json::json;
use tollgate::KeyStatus;
use tollgate::console::{RotateKeyInput, RotatedKey};
use tollgate::keys::retirement;
use tollgate::{ApiKey, Detail, KeyKind, Mode};
use tollgate_edge::audit::{self, Change};
use tollgate_edge::db::{self, Violation, keys::KeyRow, projects::ProjectRow};
use tollgate_edge::idempotent::{self, Claim};
use tollgate_edge::session::Session;
use tollgate_edge::views;
use tollgate_edge::{ApiError, Ctx, body, json, json_text, keyauth, list, secrets};
use worker::Response;

pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let page = list::page(&ctx)?;
    let (rows, total) = db::keys::page(&session.db, &project.id, page).await?;
    list::respond(rows, total, page, views::key)
}

pub(crate) async fn rotate(mut ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let grace = body::parse::<RotateKeyInput>(&bytes)?
        .validate()
        .map_err(ApiError::Validation)?;
    idempotent::run(
        &ctx,
        &session.db,
        &session.platform.id,
        &bytes,
        async |claim| replace(&ctx, &session, &project, grace, claim).await,
    )
    .await
}

async fn replace(
    ctx: &Ctx,
    session: &Session,
    project: &ProjectRow,
    grace_seconds: i64,
    claim: Option<&Claim>,
) -> Result<Response, ApiError> {
    let pepper = secrets::pepper(&ctx.env)?;
    let mode =
        Mode::parse(&project.mode).ok_or_else(|| ApiError::internal("stored project mode"))?;
    let secret = ApiKey::generate(KeyKind::Secret, mode);
    let now = ctx.now_ms;
    let keys = db::keys::list(&session.db, &project.id).await?;
    let retired = retirement(
        keys.iter().map(|k| (k.id.as_str(), k.status)),
        grace_seconds,
        now,
    );
    let active = retired.and_then(|r| keys.iter().find(|k| k.id == r.key_id).cloned());
    let grace_end = retired.map_or(now, |r| r.until);
    let key = KeyRow::fresh(&project.id, &secret, &pepper, now);
    let mut statements = Vec::new();
    if let Some(old) = &active {
        statements.push(db::keys::retire(&session.db, &old.id, grace_end, now)?);
    }
    statements.push(db::keys::insert(&session.db, &key)?);
    if let Some(old) = &active {
        statements.push(db::keys::link_successor(&session.db, &old.id, &key.id)?);
    }
    statements.push(db::keys::bump_auth_version(&session.db, &project.id)?);
    let change = Change {
        project_id: Some(&project.id),
        action: "key.rotated",
        target_type: "api_key",
        target_id: &key.id,
    };
    let metadata = json!({ "previousKeyId": active.as_ref().map(|k| &k.id), "gracePeriodSeconds": grace_seconds });
    statements.push(audit::event(
        ctx,
        &session.db,
        session.actor(),
        change,
        &metadata,
    )?);
    let previous = active.clone().map(|old| {
        let mut view = views::key(old);
        view.status = KeyStatus::Rotated;
        view.expires_at = Some(grace_end);
        view.rotated_at = Some(now);
        view
    });
    let body = serde_json::to_string(&Detail {
        data: RotatedKey {
            secret_key: secret.expose().to_owned(),
            key: views::key(key),
            previous,
        },
    })?;
    if let Some(claim) = claim {
        statements.push(idempotent::record(ctx, &session.db, claim, 201, &body, true).await?);
    }
    if let Err(err) = db::batch(&session.db, statements).await {
        // The one-active-key index refused a second active key: another rotation won.
        return Err(match err.violation() {
            Some(Violation::Unique(_)) => ApiError::StaleUpdate,
            _ => err,
        });
    }
    if let Some(old) = active {
        keyauth::forget(&ctx.env, &[old.hash], None).await?;
    }
    json_text(201, body)
}

pub(crate) async fn revoke(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let key_id = ctx.params.get("keyId").ok_or(ApiError::NotFound)?;
    let key = db::keys::get(&session.db, &project.id, key_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if key.status.may_revoke() {
        let change = Change {
            project_id: Some(&project.id),
            action: "key.revoked",
            target_type: "api_key",
            target_id: &key.id,
        };
        let statements = vec![
            db::keys::revoke(&session.db, &key.id, ctx.now_ms)?,
            db::keys::bump_auth_version(&session.db, &project.id)?,
            audit::event(
                &ctx,
                &session.db,
                session.actor(),
                change,
                &json!({ "display": format!("{}…{}", key.prefix, key.last4) }),
            )?,
        ];
        db::batch(&session.db, statements).await?;
        keyauth::forget(&ctx.env, std::slice::from_ref(&key.hash), None).await?;
    }
    let revoked = db::keys::get(&session.db, &project.id, &key.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    json(
        200,
        &Detail {
            data: views::key(revoked),
        },
    )
}
