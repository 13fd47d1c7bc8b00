//! Test → live promotion: a live twin of a test project with new keys (shown once) and the
//! same catalog sold on the platform's live Stripe account. The test project is untouched.
//!
//! Safe to retry: the twin's ids derive from the test project's, so every Stripe call of a
//! retry carries the same idempotency key and parameters, and the rows land in one batch —
//! a failure half-way leaves nothing visible, and the retry finishes the same promotion.

use crate::items::Spec;
use crate::seller::Seller;
use serde::Deserialize;
use serde_json::json;
use tollgate::ids::derived_id;
use tollgate::{ApiKey, KeyKind, Mode, ProjectName};
use tollgate_edge::audit::{self, Change};
use tollgate_edge::db::catalog::{self as store, Listed, StripeIds};
use tollgate_edge::db::{self, Violation, keys::KeyRow, projects::ProjectRow};
use tollgate_edge::idempotent::{self, Claim};
use tollgate_edge::session::Session;
use tollgate_edge::{ApiError, Ctx, body, json_text, secrets, views};
use worker::{D1PreparedStatement, Response};

/// `POST /v1/projects/{id}/promote`: an optional name for the live project.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteInput {
    name: Option<String>,
}

pub(crate) async fn promote(mut ctx: Ctx) -> Result<Response, ApiError> {
    let session = Session::start_fresh(&ctx).await?;
    let project = session.project(&ctx).await?;
    if Mode::parse(&project.mode) != Some(Mode::Test) {
        return Err(ApiError::NotATestProject);
    }
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let input = if bytes.is_empty() {
        PromoteInput::default()
    } else {
        body::parse::<PromoteInput>(&bytes)?
    };
    let name = match input.name.as_deref() {
        None => project.name.clone(),
        Some(raw) => ProjectName::parse(raw)
            .map_err(|reason| ApiError::field("name", reason))?
            .as_str()
            .to_owned(),
    };
    idempotent::run(
        &ctx,
        &session.db,
        &session.platform.id,
        &bytes,
        async |claim| twin(&ctx, &session, &project, name, claim).await,
    )
    .await
}

async fn twin(
    ctx: &Ctx,
    session: &Session,
    test: &ProjectRow,
    name: String,
    claim: Option<&Claim>,
) -> Result<Response, ApiError> {
    let promotions = db::projects::promotions(&session.db, &test.id).await?;
    if promotions.active > 0 {
        return Err(ApiError::AlreadyPromoted);
    }
    let seller = Seller::of(&ctx.env, &session.db, &session.platform.id, Mode::Live).await?;
    // A deleted earlier twin must not collide with this one: the count is part of the seed.
    let seed = format!("promote:{}:{}", test.id, promotions.total);
    let publishable = ApiKey::generate(KeyKind::Publishable, Mode::Live);
    let secret = ApiKey::generate(KeyKind::Secret, Mode::Live);
    let now = ctx.now_ms;
    let live = ProjectRow {
        id: derived_id("prj", &seed),
        platform_id: session.platform.id.clone(),
        name,
        project_type: test.project_type.clone(),
        mode: Mode::Live.as_str().to_owned(),
        publishable_key: publishable.expose().to_owned(),
        promoted_from: Some(test.id.clone()),
        end_user_issuer: test.end_user_issuer.clone(),
        end_user_jwks_url: test.end_user_jwks_url.clone(),
        end_user_audience: test.end_user_audience.clone(),
        checkout_limits: test.checkout_limits.clone(),
        created_at: now,
        updated_at: now,
    };
    let key = KeyRow::fresh(&live.id, &secret, &secrets::pepper(&ctx.env)?, now);
    let mut statements = vec![
        db::projects::insert(&session.db, &live)?,
        db::keys::insert(&session.db, &key)?,
    ];
    let (tiers, products) = copy_catalog(
        ctx,
        session,
        &seller,
        test,
        &live.id,
        &seed,
        &mut statements,
    )
    .await?;
    statements.push(audit::event(
        ctx,
        &session.db,
        session.actor(),
        Change {
            project_id: Some(&live.id),
            action: "project.promoted",
            target_type: "project",
            target_id: &live.id,
        },
        &json!({ "from": test.id, "keyId": key.id, "tiers": tiers, "products": products }),
    )?);
    let body = serde_json::to_string(&json!({
        "data": {
            "project": views::project(live),
            "secretKey": secret.expose(),
            "key": views::key(key),
            "tiers": tiers,
            "products": products,
        }
    }))?;
    if let Some(claim) = claim {
        statements.push(idempotent::record(ctx, &session.db, claim, 201, &body, true).await?);
    }
    db::batch(&session.db, statements)
        .await
        .map_err(|e| match e.violation() {
            // A concurrent promotion of the same project won.
            Some(Violation::Unique(_)) => ApiError::AlreadyPromoted,
            _ => e,
        })?;
    json_text(201, body)
}

/// Publishes each live tier and product on the live account and adds its insert to
/// `statements`. Returns how many tiers and products were copied.
async fn copy_catalog(
    ctx: &Ctx,
    session: &Session,
    seller: &Seller,
    test: &ProjectRow,
    live_id: &str,
    seed: &str,
    statements: &mut Vec<D1PreparedStatement>,
) -> Result<(usize, usize), ApiError> {
    let now = ctx.now_ms;
    let tiers = store::tiers(&session.db, &test.id, Listed::Selling).await?;
    for tier in &tiers {
        let spec = tier.spec();
        let id = derived_id("tier", &format!("{seed}:{}", tier.id));
        let spec = Spec::Tier(spec);
        let published = match spec.listing(&id, live_id) {
            Some(listing) => Some(seller.publish(&listing, "promote").await?),
            None => None,
        };
        let stripe = StripeIds {
            product: published.as_ref().map(|(p, _)| p.as_str()),
            price: published.as_ref().map(|(_, p)| p.as_str()),
        };
        statements.push(store::insert_tier(
            &session.db,
            &id,
            live_id,
            &tier.spec(),
            stripe,
            now,
        )?);
    }
    let products = store::products(&session.db, &test.id, Listed::Selling).await?;
    for product in &products {
        let spec = product.spec();
        let id = derived_id("prd", &format!("{seed}:{}", product.id));
        let listed = Spec::Product(spec.clone());
        let listing = listed
            .listing(&id, live_id)
            .ok_or_else(|| ApiError::internal("a product always sells"))?;
        let (product_id, price_id) = seller.publish(&listing, "promote").await?;
        let stripe = StripeIds {
            product: Some(&product_id),
            price: Some(&price_id),
        };
        statements.push(store::insert_product(
            &session.db,
            &id,
            live_id,
            &spec,
            stripe,
            now,
        )?);
    }
    Ok((tiers.len(), products.len()))
}
