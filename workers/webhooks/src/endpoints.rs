//! A project's outbound webhook endpoints (developer lane): list, read, create (the signing
//! secret shown once), edit, delete and rotate the secret. Settings changes need a fresh
//! sign-in; every write is audited in its own batch.

use serde::Serialize;
use serde_json::{Value, json};
use tollgate::ids::new_id;
use tollgate::outbound::{
    CreateEndpointInput, EditEndpointInput, EndpointSpec, MAX_ENDPOINTS, Reach, RotateSecretInput,
    new_secret, secret_last4,
};
use tollgate::{Detail, Mode};
use tollgate_edge::audit::{self, Change};
use tollgate_edge::db::projects::ProjectRow;
use tollgate_edge::db::webhook_endpoints::{self as store, EndpointRow};
use tollgate_edge::idempotent::{self, Claim};
use tollgate_edge::session::Session;
use tollgate_edge::{ApiError, Ctx, Environment, body, crypto, db, json, json_text, list, secrets};
use wasm_bindgen::JsValue;
use worker::{D1PreparedStatement, Response};

/// An endpoint as the developer sees it: never a secret, only its last four characters —
/// except in the one answer that reveals it (`secret`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct View<'a> {
    id: &'a str,
    project_id: &'a str,
    url: &'a str,
    description: Option<&'a str>,
    events: Vec<String>,
    status: &'a str,
    secret_last4: &'a str,
    previous_secret_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

pub(crate) fn view(row: &EndpointRow) -> View<'_> {
    View {
        id: &row.id,
        project_id: &row.project_id,
        url: &row.url,
        description: row.description.as_deref(),
        events: serde_json::from_str(&row.events).unwrap_or_default(),
        status: row.status.as_str(),
        secret_last4: &row.secret_last4,
        previous_secret_expires_at: row.previous_secret_expires_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        secret: None,
    }
}

/// The view with the secret, for the one answer that reveals it.
fn revealing<'a>(row: &'a EndpointRow, secret: &'a str) -> Detail<View<'a>> {
    Detail {
        data: View {
            secret: Some(secret),
            ..view(row)
        },
    }
}

pub(crate) fn mode_of(project: &ProjectRow) -> Result<Mode, ApiError> {
    Mode::parse(&project.mode).ok_or_else(|| {
        ApiError::internal(format!("project {} has mode {}", project.id, project.mode))
    })
}

/// Where the project's endpoints may point on this deployment (loopback only in development).
fn reach(ctx: &Ctx, project: &ProjectRow) -> Result<Reach, ApiError> {
    Ok(Reach::new(
        mode_of(project)?,
        ctx.config.environment == Environment::Development,
    ))
}

/// The route's endpoint, or 404 (another project's, a deleted one, or none).
pub(crate) async fn endpoint(
    ctx: &Ctx,
    session: &Session,
    project_id: &str,
) -> Result<EndpointRow, ApiError> {
    let id = ctx.params.get("endpointId").ok_or(ApiError::NotFound)?;
    store::get(&session.db, project_id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Where an endpoint's signing secret is sealed: its row. A rotation moves the value into
/// `previous_secret_enc` in SQL, so both columns open under the `secret_enc` binding.
pub(crate) const fn secret_slot(endpoint_id: &str) -> crypto::Slot<'_> {
    crypto::Slot {
        table: "webhook_endpoints",
        column: "secret_enc",
        row: endpoint_id,
    }
}

async fn seal(ctx: &Ctx, endpoint_id: &str, secret: &str) -> Result<String, ApiError> {
    let key = secrets::data_key(&ctx.env).await?;
    crypto::seal(&key, secret.as_bytes(), secret_slot(endpoint_id))
        .await
        .map_err(|e| ApiError::internal(format!("seal webhook secret: {}", e.0)))
}

/// The audit event for `verb` on an endpoint. With `guarded_at`, it is written only if the
/// endpoint's `updated_at` is that value when the batch reaches it, so an edit that lost a
/// race leaves no event. Metadata never holds the secret.
fn audited(
    ctx: &Ctx,
    session: &Session,
    row: &EndpointRow,
    verb: &str,
    metadata: &Value,
    guarded_at: Option<i64>,
) -> Result<D1PreparedStatement, ApiError> {
    audit::event_when(
        ctx,
        &session.db,
        session.actor(),
        Change {
            project_id: Some(&row.project_id),
            action: &format!("webhook_endpoint.{verb}"),
            target_type: "webhook_endpoint",
            target_id: &row.id,
        },
        metadata,
        guarded_at.map(|at| {
            (
                "EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ?13 AND updated_at = ?14)",
                [JsValue::from_str(&row.id), db::int(at)],
            )
        }),
    )
}

/// `GET /v1/projects/{id}/webhook-endpoints`: oldest first, paginated.
pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let page = list::page(&ctx)?;
    let (rows, total) = store::list(&session.db, &project.id, page).await?;
    list::respond(rows.iter().collect(), total, page, view)
}

/// `GET /v1/projects/{id}/webhook-endpoints/{endpointId}`.
pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = session.project(&ctx).await?;
    let row = endpoint(&ctx, &session, &project.id).await?;
    json(200, &Detail { data: view(&row) })
}

/// `POST /v1/projects/{id}/webhook-endpoints` (fresh sign-in, `Idempotency-Key` honoured):
/// the answer shows the signing secret once.
pub(crate) async fn create(mut ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let spec = body::parse::<CreateEndpointInput>(&bytes)?
        .validate(reach(&ctx, &project)?)
        .map_err(ApiError::Validation)?;
    idempotent::run(&ctx, &session.db, &project.id, &bytes, async |claim| {
        insert(&ctx, &session, &project, &spec, claim).await
    })
    .await
}

async fn insert(
    ctx: &Ctx,
    session: &Session,
    project: &ProjectRow,
    spec: &EndpointSpec,
    claim: Option<&Claim>,
) -> Result<Response, ApiError> {
    // A clear answer in the common case; the insert itself enforces the limit under races.
    if store::count(&session.db, &project.id).await? >= MAX_ENDPOINTS as u64 {
        return Err(ApiError::EndpointLimitReached);
    }
    let secret = new_secret();
    let id = new_id("whe");
    let row = EndpointRow {
        secret_enc: seal(ctx, &id, &secret).await?,
        id,
        project_id: project.id.clone(),
        url: spec.url.clone(),
        description: spec.description.clone(),
        events: spec.events_json(),
        status: spec.status,
        secret_last4: secret_last4(&secret),
        previous_secret_enc: None,
        previous_secret_expires_at: None,
        created_at: ctx.now_ms,
        updated_at: ctx.now_ms,
    };
    let body = serde_json::to_string(&revealing(&row, &secret))?;
    let mut statements = vec![
        store::insert(&session.db, &row, MAX_ENDPOINTS)?,
        audited(
            ctx,
            session,
            &row,
            "created",
            &json!({ "url": row.url, "events": spec.events }),
            None,
        )?,
    ];
    if let Some(claim) = claim {
        statements.push(idempotent::record(ctx, &session.db, claim, 201, &body, true).await?);
    }
    db::batch(&session.db, statements).await.map_err(|error| {
        if store::is_over_limit(&error) {
            ApiError::EndpointLimitReached
        } else {
            error
        }
    })?;
    json_text(201, body)
}

/// `PATCH …/webhook-endpoints/{endpointId}` (fresh): url, events, description, status, with
/// the `updatedAt` last read.
pub(crate) async fn edit(mut ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let row = endpoint(&ctx, &session, &project.id).await?;
    let input: EditEndpointInput = body::json(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let (next, expected) = input
        .apply(&row.spec(), reach(&ctx, &project)?)
        .map_err(ApiError::Validation)?;
    if row.updated_at != expected {
        return Err(ApiError::StaleUpdate);
    }
    let now = ctx.now_ms.max(expected + 1);
    let applied = db::batch(
        &session.db,
        vec![
            store::update(&session.db, &project.id, &row.id, &next, expected, now)?,
            audited(
                &ctx,
                &session,
                &row,
                "updated",
                &json!({ "url": next.url, "events": next.events, "status": next.status.as_str() }),
                Some(now),
            )?,
        ],
    )
    .await?;
    if applied.first() != Some(&1) {
        return Err(ApiError::StaleUpdate);
    }
    let fresh = endpoint(&ctx, &session, &project.id).await?;
    json(200, &Detail { data: view(&fresh) })
}

/// `DELETE …/webhook-endpoints/{endpointId}` (fresh): no more deliveries; the secret is
/// wiped. Past deliveries stay listable.
pub(crate) async fn delete(ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let row = endpoint(&ctx, &session, &project.id).await?;
    let now = ctx.now_ms.max(row.updated_at + 1);
    let applied = db::batch(
        &session.db,
        vec![
            store::delete(&session.db, &project.id, &row.id, now)?,
            // Only the delete that won writes the event.
            audited(
                &ctx,
                &session,
                &row,
                "deleted",
                &json!({ "url": row.url }),
                Some(now),
            )?,
        ],
    )
    .await?;
    if applied.first() != Some(&1) {
        return Err(ApiError::NotFound);
    }
    json(200, &json!({ "data": { "id": row.id, "deleted": true } }))
}

/// `POST …/webhook-endpoints/{endpointId}/rotate-secret` (fresh, `Idempotency-Key`
/// honoured): a new secret, shown once; the old one keeps signing beside it for
/// `gracePeriodSeconds` (default 0: it stops now).
pub(crate) async fn rotate(mut ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    let row = endpoint(&ctx, &session, &project.id).await?;
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let grace = body::parse::<RotateSecretInput>(&bytes)?
        .validate()
        .map_err(ApiError::Validation)?;
    idempotent::run(&ctx, &session.db, &project.id, &bytes, async |claim| {
        let secret = new_secret();
        let sealed = seal(&ctx, &row.id, &secret).await?;
        let now = ctx.now_ms.max(row.updated_at + 1);
        let previous_until = now + grace * 1000;
        let rotated = EndpointRow {
            secret_enc: sealed.clone(),
            secret_last4: secret_last4(&secret),
            previous_secret_enc: None,
            previous_secret_expires_at: (grace > 0).then_some(previous_until),
            updated_at: now,
            ..row.clone()
        };
        let body = serde_json::to_string(&revealing(&rotated, &secret))?;
        let mut statements = vec![
            store::rotate(
                &session.db,
                &project.id,
                &row.id,
                &sealed,
                &rotated.secret_last4,
                previous_until,
                row.updated_at,
                now,
            )?,
            audited(
                &ctx,
                &session,
                &row,
                "secret_rotated",
                &json!({ "gracePeriodSeconds": grace }),
                Some(now),
            )?,
        ];
        if let Some(claim) = claim {
            statements.push(idempotent::record(&ctx, &session.db, claim, 200, &body, true).await?);
        }
        let applied = db::batch(&session.db, statements).await?;
        if applied.first() != Some(&1) {
            idempotent::forget(&session.db, claim).await?;
            return Err(ApiError::StaleUpdate);
        }
        json_text(200, body)
    })
    .await
}
