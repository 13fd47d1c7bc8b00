//! The public catalog (`GET /api/tiers`, `GET /api/products`; either key), in dream-api's
//! shapes: prices in minor units, `limit` a number or `"unlimited"`.

use crate::lanes;
use serde_json::{Value, json};
use tollgate::usage::Limit;
use tollgate_edge::db::catalog::{self, ProductRow, TierRow};
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

pub(crate) async fn tiers(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let rows = catalog::tiers(&caller.db, &caller.auth.project_id).await?;
    json(
        200,
        &json!({ "tiers": rows.iter().map(tier).collect::<Vec<_>>() }),
    )
}

pub(crate) async fn products(ctx: Ctx) -> Result<Response, ApiError> {
    let caller = lanes::any_key(&ctx).await?;
    let rows = catalog::products(&caller.db, &caller.auth.project_id).await?;
    json(
        200,
        &json!({ "products": rows.iter().map(product).collect::<Vec<_>>() }),
    )
}
