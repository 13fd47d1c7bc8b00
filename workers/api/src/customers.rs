//! End users (`/api/customers…`, secret key only): create, list with email search, read,
//! update (a plan change never resets usage) and delete (usage and tokens go, billing
//! records stay). Another project's customer answers 404.

use tollgate::Mode;
use tollgate::customer_api::{
    CreateCustomerInput, CustomerAnswer, CustomerDeleted, CustomerView, UpdateCustomerInput,
};
use tollgate::ids::new_id;
use tollgate::limits::Cap;
use tollgate::outbound::{self, Envelope, EventType};
use tollgate_edge::db::{
    self,
    end_users::{Changes, EndUserRow},
};
use tollgate_edge::lanes::{self, Caller};
use tollgate_edge::outbound as emit;
use tollgate_edge::{ApiError, Ctx, body, json, limits, list, meter};
use worker::Response;

fn view(caller: &Caller, row: EndUserRow) -> CustomerView {
    CustomerView {
        id: row.id,
        external_id: row.external_id,
        email: row.email,
        first_name: row.first_name,
        last_name: row.last_name,
        plan: row.plan,
        publishable_key: caller.auth.publishable_key.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// A customer answer: ours (`data`) and dream-api's (`success`, `customer`).
fn answer(status: u16, customer: &CustomerView) -> Result<Response, ApiError> {
    json(status, &CustomerAnswer::of(customer))
}

async fn check_plan(caller: &Caller, plan: Option<&str>) -> Result<(), ApiError> {
    match plan {
        Some(name)
            if !db::catalog::tier_exists(&caller.db, &caller.auth.project_id, name).await? =>
        {
            Err(ApiError::field("plan", "is not a tier of this project"))
        }
        _ => Ok(()),
    }
}

async fn existing(ctx: &Ctx, caller: &Caller) -> Result<EndUserRow, ApiError> {
    let id = ctx.params.get("id").ok_or(ApiError::NotFound)?;
    db::end_users::find(&caller.db, &caller.auth.project_id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub(crate) async fn create(mut ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let input: CreateCustomerInput = body::json(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let new = input.validate().map_err(ApiError::Validation)?;
    check_plan(&caller, new.plan.as_deref()).await?;
    if caller.auth.mode == Mode::Test {
        let held = db::end_users::count(&caller.db, &caller.auth.project_id).await?;
        limits::check(&ctx.env, Cap::EndUsersPerTestProject, held, 1)?;
    }
    let row = EndUserRow {
        id: new_id("cus"),
        project_id: caller.auth.project_id.clone(),
        external_id: new.external_id,
        email: Some(new.email.as_str().to_owned()),
        first_name: new.first_name,
        last_name: new.last_name,
        plan: new.plan,
        token_version: 0,
        stripe_customer_id: None,
        created_at: ctx.now_ms,
        updated_at: ctx.now_ms,
    };
    let customer = view(&caller, row.clone());
    // The end user and its `customer.created` deliveries land together: the fan-out runs
    // only if the insert did (a taken external id writes neither).
    let event_id = outbound::event_id(EventType::CustomerCreated, &row.id);
    let event = Envelope::new(
        &event_id,
        EventType::CustomerCreated,
        ctx.now_ms,
        &row.project_id,
        caller.auth.mode.as_str(),
        &customer,
    );
    let results = caller
        .db
        .batch(vec![
            db::end_users::insert(&caller.db, &row)?,
            emit::fan_out(
                &caller.db,
                &event,
                Some((
                    "EXISTS (SELECT 1 FROM end_users WHERE id = ?8)",
                    vec![wasm_bindgen::JsValue::from_str(&row.id)],
                )),
            )?,
        ])
        .await?;
    let inserted = results
        .first()
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0);
    if inserted != 1 {
        return Err(ApiError::DuplicateExternalId);
    }
    if let Some(fanned) = results.get(1) {
        emit::enqueue(&ctx.env, &ctx.request_id, &emit::written(fanned)?).await;
    }
    answer(201, &customer)
}

pub(crate) async fn list(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let page = list::page(&ctx)?;
    let email = ctx
        .query()
        .into_iter()
        .find(|(k, _)| k == "email")
        .map(|(_, v)| v);
    let (rows, total) =
        db::end_users::list(&caller.db, &caller.auth.project_id, email.as_deref(), page).await?;
    list::respond(rows, total, page, |row| view(&caller, row))
}

pub(crate) async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let row = existing(&ctx, &caller).await?;
    answer(200, &view(&caller, row))
}

pub(crate) async fn update(mut ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let row = existing(&ctx, &caller).await?;
    let input: UpdateCustomerInput = body::json(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let changes = input.validate().map_err(ApiError::Validation)?;
    check_plan(&caller, changes.plan.as_deref()).await?;
    let email = changes.email.as_ref().map(|e| e.as_str().to_owned());
    let statement = db::end_users::update(
        &caller.db,
        &caller.auth.project_id,
        &row.id,
        Changes {
            email: email.as_deref(),
            first_name: changes.first_name.as_deref(),
            last_name: changes.last_name.as_deref(),
            plan: changes.plan.as_deref(),
        },
        ctx.now_ms,
    )?;
    statement.run().await?;
    if changes.plan.is_some() {
        meter::forget_one(&ctx.env, &ctx.request_id, &caller.auth.project_id, &row.id).await;
    }
    let updated = db::end_users::find(&caller.db, &caller.auth.project_id, &row.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    answer(200, &view(&caller, updated))
}

pub(crate) async fn delete(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::server(&ctx).await?;
    let row = existing(&ctx, &caller).await?;
    db::batch(
        &caller.db,
        db::end_users::delete(&caller.db, &caller.auth.project_id, &row.id, ctx.now_ms)?,
    )
    .await?;
    meter::forget_one(&ctx.env, &ctx.request_id, &caller.auth.project_id, &row.id).await;
    json(200, &CustomerDeleted::of(&row.id, row.email.as_deref()))
}
