//! The public catalog: a project's live tiers and products, in display order.

use super::{all, first, text};
use crate::ApiError;
use serde::Deserialize;
use worker::D1Database;

/// A tier as stored.
#[derive(Clone, Debug, Deserialize)]
pub struct TierRow {
    /// `tier_…`
    pub id: String,
    /// Slug.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Minor units per interval.
    pub price: i64,
    /// ISO currency, lower case.
    pub currency: String,
    /// `month` or `year`.
    pub interval: String,
    /// Units per period (`None` = unlimited).
    pub usage_limit: Option<i64>,
    /// JSON array of strings.
    pub features: String,
    /// 0 or 1.
    pub popular: i64,
    /// 0 or 1: what end users without a subscription get.
    pub is_default: i64,
    /// Trial days on checkout.
    pub trial_days: i64,
    /// Image.
    pub image_url: Option<String>,
    /// Stripe product.
    pub stripe_product_id: Option<String>,
    /// Stripe price.
    pub stripe_price_id: Option<String>,
}

/// A product as stored.
#[derive(Clone, Debug, Deserialize)]
pub struct ProductRow {
    /// `prod_…`
    pub id: String,
    /// Slug.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Minor units.
    pub price: i64,
    /// ISO currency, lower case.
    pub currency: String,
    /// JSON array of strings.
    pub features: String,
    /// Image.
    pub image_url: Option<String>,
    /// Units available (`None` = unlimited).
    pub inventory: Option<i64>,
    /// Stripe product.
    pub stripe_product_id: Option<String>,
    /// Stripe price.
    pub stripe_price_id: Option<String>,
}

/// The project's tiers that are not archived.
///
/// # Errors
/// Storage failures.
pub async fn tiers(db: &D1Database, project_id: &str) -> Result<Vec<TierRow>, ApiError> {
    all(
        db,
        "SELECT id, name, display_name, description, price, currency, interval, usage_limit, features, popular, is_default, trial_days, \
         image_url, stripe_product_id, stripe_price_id FROM tiers WHERE project_id = ?1 AND archived_at IS NULL ORDER BY sort_order, price, name",
        &[text(project_id)],
    )
    .await
}

/// The project's products that are not archived.
///
/// # Errors
/// Storage failures.
pub async fn products(db: &D1Database, project_id: &str) -> Result<Vec<ProductRow>, ApiError> {
    all(
        db,
        "SELECT id, name, display_name, description, price, currency, features, image_url, inventory, stripe_product_id, stripe_price_id \
         FROM products WHERE project_id = ?1 AND archived_at IS NULL ORDER BY sort_order, name",
        &[text(project_id)],
    )
    .await
}

/// Whether the project has a live tier called `name`.
///
/// # Errors
/// Storage failures.
pub async fn tier_exists(db: &D1Database, project_id: &str, name: &str) -> Result<bool, ApiError> {
    #[derive(Deserialize)]
    struct Found {
        #[expect(dead_code, reason = "only the row's presence matters")]
        id: String,
    }
    let found: Option<Found> = first(
        db,
        "SELECT id FROM tiers WHERE project_id = ?1 AND name = ?2 AND archived_at IS NULL",
        &[text(project_id), text(name)],
    )
    .await?;
    Ok(found.is_some())
}
