//! The public catalog (`GET /api/tiers`, `GET /api/products`; either key), in dream-api's
//! shapes: prices in minor units, `limit` a number or `"unlimited"`.
//!
//! Answers are cached in the isolate for [`CACHE_MS`] (10 s) per project: the catalog is read
//! on every storefront page view and changes rarely, so a change shows within 10 s.

use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;
use tollgate::usage::Limit;
use tollgate_edge::db::catalog::{self, ProductRow, TierRow};
use tollgate_edge::lanes;
use tollgate_edge::{ApiError, Ctx, json};
use worker::Response;

fn features(raw: &str) -> Value {
    serde_json::from_str::<Vec<String>>(raw).map_or_else(|_| json!([]), |list| json!(list))
}

fn tier(row: &TierRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "displayName": row.display_name,
        "description": row.description,
        "price": row.price,
        "currency": row.currency,
        "interval": row.interval,
        "limit": Limit::from_column(row.usage_limit),
        "features": features(&row.features),
        "popular": row.popular == 1,
        "isDefault": row.is_default == 1,
        "billingMode": "subscription",
        "imageUrl": row.image_url,
        "inventory": Value::Null,
        "soldOut": false,
        "trialDays": row.trial_days,
        "stripePriceId": row.stripe_price_id,
        "priceId": row.stripe_price_id,
        "productId": row.stripe_product_id,
    })
}

fn product(row: &ProductRow) -> Value {
    json!({
        "id": row.id,
        "key": row.name,
        "name": row.name,
        "displayName": row.display_name,
        "description": row.description,
        "price": row.price,
        "currency": row.currency,
        "imageUrl": row.image_url,
        "inventory": row.inventory,
        "soldOut": row.inventory == Some(0),
        "features": features(&row.features),
        "priceId": row.stripe_price_id,
        "productId": row.stripe_product_id,
    })
}

/// How long a project's catalog answer stays in this isolate.
pub(crate) const CACHE_MS: i64 = 10_000;
/// Cached answers beyond this many clear the cache (bounded memory).
const MAX_ENTRIES: usize = 5_000;

thread_local! {
    static ANSWERS: RefCell<HashMap<String, (Value, i64)>> = RefCell::new(HashMap::new());
}

fn cached(key: &str, now: i64) -> Option<Value> {
    ANSWERS.with(|a| {
        a.borrow()
            .get(key)
            .filter(|(_, at)| now - at < CACHE_MS)
            .map(|(v, _)| v.clone())
    })
}

fn remember(key: String, value: Value, now: i64) {
    ANSWERS.with(|a| {
        let mut answers = a.borrow_mut();
        if answers.len() >= MAX_ENTRIES {
            answers.clear();
        }
        answers.insert(key, (value, now));
    });
}

/// The cached answer for `kind` of the caller's project, or a fresh one from `load`.
async fn answer<L>(ctx: &Ctx, kind: &str, load: L) -> Result<Response, ApiError>
where
    L: AsyncFnOnce(&lanes::Caller) -> Result<Value, ApiError>,
{
    let caller = lanes::any_key(ctx).await?;
    let key = format!("{kind}:{}", caller.auth.project_id);
    if let Some(answer) = cached(&key, ctx.now_ms) {
        return json(200, &answer);
    }
    let answer = load(&caller).await?;
    remember(key, answer.clone(), ctx.now_ms);
    json(200, &answer)
}

pub(crate) async fn tiers(ctx: Ctx) -> Result<Response, ApiError> {
    answer(&ctx, "tiers", async |caller| {
        let rows = catalog::tiers(
            &caller.db,
            &caller.auth.project_id,
            catalog::Listed::Selling,
        )
        .await?;
        Ok(json!({ "tiers": rows.iter().map(tier).collect::<Vec<_>>() }))
    })
    .await
}

pub(crate) async fn products(ctx: Ctx) -> Result<Response, ApiError> {
    answer(&ctx, "products", async |caller| {
        let rows = catalog::products(
            &caller.db,
            &caller.auth.project_id,
            catalog::Listed::Selling,
        )
        .await?;
        Ok(json!({ "products": rows.iter().map(product).collect::<Vec<_>>() }))
    })
    .await
}
