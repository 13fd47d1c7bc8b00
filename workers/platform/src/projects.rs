//! Projects: the platform record, creation (the secret key's single reveal), listing, reading,
//! renaming under an `updatedAt` guard, and soft deletion.

use serde_json::json;
use tollgate::console::{
    CreateProjectInput, CreatedProject, EndUserAuthInput, NewProject, RenameProjectInput,
};
use tollgate::holds::CheckoutLimits;
use tollgate::ids::new_id;
use tollgate::limits::Cap;
use tollgate::{ApiKey, Detail, KeyKind};
use tollgate_edge::audit::{self, Change};
use tollgate_edge::db::{self, keys::KeyRow, projects::ProjectRow};
use tollgate_edge::idempotent::{self, Claim};
use tollgate_edge::session::Session;
use tollgate_edge::views;
use tollgate_edge::{
    ApiError, Ctx, Environment, body, json, json_text, keyauth, limits, list, secrets,
};
use wasm_bindgen::JsValue;
use worker::Response;

pub(crate) async fn platform(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    json(
        200,
        &Detail {
            data: views::platform(session.platform),
        },
    )
}

pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let page = list::page(&ctx)?;
    let (rows, total) = db::projects::list(&session.db, &session.platform.id, page).await?;
    list::respond(rows, total, page, views::project)
}

pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    json(
        200,
        &Detail {
            data: views::project(project),
        },
    )
}

pub(crate) async fn create(mut ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let new = body::parse::<CreateProjectInput>(&bytes)?
        .validate()
        .map_err(ApiError::Validation)?;
    idempotent::run(
        &ctx,
        &session.db,
        &session.platform.id,
        &bytes,
        async |claim| insert(&ctx, &session, new, claim).await,
    )
    .await
}

async fn insert(
    ctx: &Ctx,
    session: &Session,
    new: NewProject,
    claim: Option<&Claim>,
) -> Result<Response, ApiError> {
    let held = db::projects::count(&session.db, &session.platform.id).await?;
    limits::check(&ctx.env, Cap::ProjectsPerDeveloper, held, 1)?;
    let pepper = secrets::pepper(&ctx.env)?;
    let publishable = ApiKey::generate(KeyKind::Publishable, new.mode);
    let secret = ApiKey::generate(KeyKind::Secret, new.mode);
    let now = ctx.now_ms;
    let project = ProjectRow {
        id: new_id("prj"),
        platform_id: session.platform.id.clone(),
        name: new.name.as_str().to_owned(),
        project_type: new.project_type.as_str().to_owned(),
        mode: new.mode.as_str().to_owned(),
        publishable_key: publishable.expose().to_owned(),
        promoted_from: None,
        end_user_issuer: None,
        end_user_jwks_url: None,
        end_user_audience: None,
        checkout_limits: "{}".to_owned(),
        created_at: now,
        updated_at: now,
    };
    let key = KeyRow::fresh(&project.id, &secret, &pepper, now);
    let change = Change {
        project_id: Some(&project.id),
        action: "project.created",
        target_type: "project",
        target_id: &project.id,
    };
    let metadata = json!({ "name": project.name, "type": project.project_type, "mode": project.mode, "keyId": key.id });
    let mut statements = vec![
        db::projects::insert(&session.db, &project)?,
        db::keys::insert(&session.db, &key)?,
        audit::event(ctx, &session.db, session.actor(), change, &metadata)?,
    ];
    let body = serde_json::to_string(&Detail {
        data: CreatedProject {
            project: views::project(project),
            secret_key: secret.expose().to_owned(),
            key: views::key(key),
        },
    })?;
    if let Some(claim) = claim {
        statements.push(idempotent::record(ctx, &session.db, claim, 201, &body, true).await?);
    }
    db::batch(&session.db, statements).await?;
    json_text(201, body)
}

/// `PATCH /v1/projects/{id}`: a new name and/or checkout limits, under the `updatedAt` guard.
pub(crate) async fn rename(mut ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let edit = body::json::<RenameProjectInput>(&mut ctx.req, body::DEFAULT_LIMIT)
        .await?
        .validate()
        .map_err(ApiError::Validation)?;
    let current = CheckoutLimits::from_column(&project.checkout_limits);
    let limits = match edit.checkout_limits {
        Some(input) => Some(input.apply(current).map_err(ApiError::Validation)?),
        None => None,
    };
    let expected = edit.expected;
    if project.updated_at != expected {
        return Err(ApiError::StaleUpdate);
    }
    let name = edit
        .name
        .as_ref()
        .map_or(project.name.as_str(), |n| n.as_str());
    let now = ctx.now_ms.max(expected + 1);
    let (action, metadata) = match limits {
        Some(limits) => (
            "project.checkout_limits_changed",
            json!({ "from": current, "to": limits, "name": name }),
        ),
        None => (
            "project.renamed",
            json!({ "from": project.name, "to": name }),
        ),
    };
    let change = Change {
        project_id: Some(&project.id),
        action,
        target_type: "project",
        target_id: &project.id,
    };
    // The audit row is written only if the guarded update applied (same id, new time).
    let guard = (
        "EXISTS (SELECT 1 FROM projects WHERE id = ?13 AND updated_at = ?14)",
        [JsValue::from_str(&project.id), db_int(now)],
    );
    let stored = serde_json::to_string(&limits.unwrap_or(current))?;
    let statements = vec![
        db::projects::rename(
            &session.db,
            &session.platform.id,
            &project.id,
            (name, &stored),
            expected,
            now,
        )?,
        audit::event_when(
            &ctx,
            &session.db,
            session.actor(),
            change,
            &metadata,
            Some(guard),
        )?,
    ];
    let changed = db::batch(&session.db, statements).await?;
    if changed.first() != Some(&1) {
        return Err(ApiError::StaleUpdate);
    }
    let renamed = db::projects::get(&session.db, &session.platform.id, &project.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    json(
        200,
        &Detail {
            data: views::project(renamed),
        },
    )
}

pub(crate) async fn delete(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let hashes = db::keys::live_hashes(&session.db, &project.id).await?;
    let change = Change {
        project_id: Some(&project.id),
        action: "project.deleted",
        target_type: "project",
        target_id: &project.id,
    };
    let statements = vec![
        db::projects::soft_delete(&session.db, &session.platform.id, &project.id, ctx.now_ms)?,
        db::keys::revoke_all(&session.db, &project.id, ctx.now_ms)?,
        db::keys::bump_auth_version(&session.db, &project.id)?,
        audit::event(
            &ctx,
            &session.db,
            session.actor(),
            change,
            &json!({ "name": project.name, "revokedKeys": hashes.len() }),
        )?,
    ];
    db::batch(&session.db, statements).await?;
    keyauth::forget(&ctx.env, &hashes, Some(&project.publishable_key)).await?;
    json(
        200,
        &Detail {
            data: json!({ "id": project.id, "deleted": true }),
        },
    )
}

#[expect(
    clippy::cast_precision_loss,
    reason = "millisecond times stay within ±2^53"
)]
fn db_int(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// `PUT /v1/projects/{id}/end-user-auth` (fresh): trust the project's own identity provider
/// for end-user JWTs. `DELETE` on the same path stops trusting it. Cached key lookups are
/// dropped so the api worker sees the change within the key cache bound.
pub(crate) async fn set_end_user_auth(mut ctx: Ctx, clear: bool) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let auth = if clear {
        None
    } else {
        let input: EndUserAuthInput = body::json(&mut ctx.req, body::DEFAULT_LIMIT).await?;
        let development = ctx.config.environment == Environment::Development;
        Some(input.validate(development).map_err(ApiError::Validation)?)
    };
    let change = Change {
        project_id: Some(&project.id),
        action: "project.end_user_auth_changed",
        target_type: "project",
        target_id: &project.id,
    };
    let metadata = json!({ "issuer": auth.as_ref().map(|a| &a.issuer), "audience": auth.as_ref().map(|a| &a.audience) });
    let fields = auth
        .as_ref()
        .map(|a| (a.issuer.as_str(), a.jwks_url.as_str(), a.audience.as_str()));
    let statements = vec![
        db::projects::set_end_user_auth(
            &session.db,
            &session.platform.id,
            &project.id,
            fields,
            ctx.now_ms,
        )?,
        db::keys::bump_auth_version(&session.db, &project.id)?,
        audit::event(&ctx, &session.db, session.actor(), change, &metadata)?,
    ];
    db::batch(&session.db, statements).await?;
    let hashes = db::keys::live_hashes(&session.db, &project.id).await?;
    keyauth::forget(&ctx.env, &hashes, Some(&project.publishable_key)).await?;
    let updated = db::projects::get(&session.db, &session.platform.id, &project.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    json(
        200,
        &Detail {
            data: views::project(updated),
        },
    )
}

/// `PUT /v1/projects/{id}/redirect-origins` `{ origins }`: where checkout and portal pages
/// may send buyers back to (a fresh sign-in: they decide where paying buyers land). `GET`
/// reads them.
pub(crate) async fn redirect_origins(mut ctx: Ctx, write: bool) -> Result<Response, ApiError> {
    let session = if write {
        Session::start_fresh(&ctx).await?
    } else {
        Session::start(&ctx).await?
    };
    let project = session.project(&ctx).await?;
    let origins = if write {
        let input: tollgate::checkout::RedirectOriginsInput =
            body::json(&mut ctx.req, body::DEFAULT_LIMIT).await?;
        let origins =
            tollgate::checkout::parse_origins(&input.origins).map_err(ApiError::Validation)?;
        let change = Change {
            project_id: Some(&project.id),
            action: "project.redirect_origins_changed",
            target_type: "project",
            target_id: &project.id,
        };
        db::batch(
            &session.db,
            vec![
                db::projects::set_redirect_origins(
                    &session.db,
                    &session.platform.id,
                    &project.id,
                    &origins,
                    ctx.now_ms,
                )?,
                audit::event(
                    &ctx,
                    &session.db,
                    session.actor(),
                    change,
                    &json!({ "origins": origins }),
                )?,
            ],
        )
        .await?;
        origins
    } else {
        db::checkout::redirect_origins(&session.db, &project.id).await?
    };
    json(
        200,
        &json!({ "data": { "projectId": project.id, "origins": origins } }),
    )
}
