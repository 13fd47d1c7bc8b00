//! `tiers` and `products`: the public catalog in display order, and the developer's writes
//! (create, guarded edit, archive) with the Stripe ids they were synced to.

use super::{all, first, int, opt_text, stmt, text};
use crate::ApiError;
use serde::Deserialize;
use tollgate::catalog::{Interval, ProductSpec, TierSpec};
use tollgate::paging::Page;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

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
    /// Display order.
    pub sort_order: i64,
    /// The private asset it delivers (`ast_…`).
    pub asset_id: Option<String>,
    /// When it was archived (ms).
    pub archived_at: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms); the stale-state guard for edits.
    pub updated_at: i64,
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
    /// Display order.
    pub sort_order: i64,
    /// The private asset it delivers (`ast_…`).
    pub asset_id: Option<String>,
    /// When it was archived (ms).
    pub archived_at: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms); the stale-state guard for edits.
    pub updated_at: i64,
}

const TIER_COLUMNS: &str = "id, name, display_name, description, price, currency, interval, usage_limit, features, popular, \
                            is_default, trial_days, image_url, stripe_product_id, stripe_price_id, sort_order, asset_id, archived_at, created_at, updated_at";
const PRODUCT_COLUMNS: &str = "id, name, display_name, description, price, currency, features, image_url, inventory, \
                               stripe_product_id, stripe_price_id, sort_order, asset_id, archived_at, created_at, updated_at";

fn features_of(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

impl TierRow {
    /// The tier as a validated spec, for edits.
    #[must_use]
    pub fn spec(&self) -> TierSpec {
        TierSpec {
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            price: self.price,
            currency: self.currency.clone(),
            interval: Interval::parse(&self.interval).unwrap_or(Interval::Month),
            limit: self.usage_limit,
            features: features_of(&self.features),
            popular: self.popular == 1,
            trial_days: self.trial_days,
            image_url: self.image_url.clone(),
            sort_order: self.sort_order,
            asset_id: self.asset_id.clone(),
        }
    }
}

impl ProductRow {
    /// The product as a validated spec, for edits.
    #[must_use]
    pub fn spec(&self) -> ProductSpec {
        ProductSpec {
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            price: self.price,
            currency: self.currency.clone(),
            features: features_of(&self.features),
            image_url: self.image_url.clone(),
            inventory: self.inventory,
            sort_order: self.sort_order,
            asset_id: self.asset_id.clone(),
        }
    }
}

/// Which records a catalog read returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listed {
    /// Those still selling (the public catalog, promotion).
    Selling,
    /// Archived ones too, last (the developer's lists).
    Everything,
}

impl Listed {
    const fn filter(self) -> &'static str {
        match self {
            Self::Selling => "AND archived_at IS NULL ORDER BY",
            Self::Everything => "ORDER BY archived_at IS NOT NULL,",
        }
    }
}

/// The project's tiers in display order.
///
/// # Errors
/// Storage failures.
pub async fn tiers(
    db: &D1Database,
    project_id: &str,
    listed: Listed,
) -> Result<Vec<TierRow>, ApiError> {
    let sql = format!(
        "SELECT {TIER_COLUMNS} FROM tiers WHERE project_id = ?1 {} sort_order, price, name",
        listed.filter()
    );
    all(db, &sql, &[text(project_id)]).await
}

/// The project's products in display order.
///
/// # Errors
/// Storage failures.
pub async fn products(
    db: &D1Database,
    project_id: &str,
    listed: Listed,
) -> Result<Vec<ProductRow>, ApiError> {
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE project_id = ?1 {} sort_order, name",
        listed.filter()
    );
    all(db, &sql, &[text(project_id)]).await
}

/// A page of the project's tiers (archived ones last), read with `LIMIT`, and their total.
///
/// # Errors
/// Storage failures.
pub async fn tier_page(
    db: &D1Database,
    project_id: &str,
    page: Page,
) -> Result<(Vec<TierRow>, u64), ApiError> {
    let sql = format!(
        "SELECT {TIER_COLUMNS} FROM tiers WHERE project_id = ?1 \
         ORDER BY archived_at IS NOT NULL, sort_order, price, name, id LIMIT ?2 OFFSET ?3"
    );
    page_of(db, &sql, Table::Tiers, project_id, page).await
}

/// A page of the project's products (archived ones last), read with `LIMIT`, and their total.
///
/// # Errors
/// Storage failures.
pub async fn product_page(
    db: &D1Database,
    project_id: &str,
    page: Page,
) -> Result<(Vec<ProductRow>, u64), ApiError> {
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE project_id = ?1 \
         ORDER BY archived_at IS NOT NULL, sort_order, name, id LIMIT ?2 OFFSET ?3"
    );
    page_of(db, &sql, Table::Products, project_id, page).await
}

async fn page_of<T: serde::de::DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    table: Table,
    project_id: &str,
    page: Page,
) -> Result<(Vec<T>, u64), ApiError> {
    let count = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE project_id = ?1",
        table.name()
    );
    super::page_by_project(db, sql, &count, project_id, page).await
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

/// One tier of the project (archived included); another project's is `None`.
///
/// # Errors
/// Storage failures.
pub async fn tier(
    db: &D1Database,
    project_id: &str,
    id: &str,
) -> Result<Option<TierRow>, ApiError> {
    first(
        db,
        &format!("SELECT {TIER_COLUMNS} FROM tiers WHERE project_id = ?1 AND id = ?2"),
        &[text(project_id), text(id)],
    )
    .await
}

/// One product of the project (archived included); another project's is `None`.
///
/// # Errors
/// Storage failures.
pub async fn product(
    db: &D1Database,
    project_id: &str,
    id: &str,
) -> Result<Option<ProductRow>, ApiError> {
    first(
        db,
        &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE project_id = ?1 AND id = ?2"),
        &[text(project_id), text(id)],
    )
    .await
}

/// What a name or free-tier check finds in the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// A tier or product (archived included) already has the name.
    pub name: bool,
    /// A live free tier exists.
    pub free_tier: bool,
    /// Records in the table for the project, archived included (the catalog cap counts them).
    pub items: u64,
}

/// Whether `name` is taken among the project's tiers (or products) and whether it has a free tier.
///
/// # Errors
/// Storage failures.
pub async fn taken(
    db: &D1Database,
    project_id: &str,
    table: Table,
    name: &str,
) -> Result<Taken, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        named: i64,
        free: i64,
        items: u64,
    }
    let free = match table {
        Table::Tiers => {
            "(SELECT COUNT(*) FROM tiers WHERE project_id = ?1 AND is_default = 1 AND archived_at IS NULL)"
        }
        Table::Products => "0",
    };
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM {t} WHERE project_id = ?1 AND name = ?2) AS named, {free} AS free, \
         (SELECT COUNT(*) FROM {t} WHERE project_id = ?1) AS items",
        t = table.name()
    );
    let row: Option<Row> = first(db, &sql, &[text(project_id), text(name)]).await?;
    Ok(row.map_or(
        Taken {
            name: false,
            free_tier: false,
            items: 0,
        },
        |r| Taken {
            name: r.named > 0,
            free_tier: r.free > 0,
            items: r.items,
        },
    ))
}

/// Which catalog table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// SaaS tiers.
    Tiers,
    /// Store products.
    Products,
}

impl Table {
    /// The table's name in SQL.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tiers => "tiers",
            Self::Products => "products",
        }
    }
}

/// The Stripe objects a record is sold through.
#[derive(Clone, Copy, Debug)]
pub struct StripeIds<'a> {
    /// `prod_…`
    pub product: Option<&'a str>,
    /// `price_…`
    pub price: Option<&'a str>,
}

fn features_json(features: &[String]) -> String {
    serde_json::Value::from(features.to_vec()).to_string()
}

fn limit_param(limit: Option<i64>) -> JsValue {
    limit.map_or(JsValue::NULL, int)
}

/// The `asset_id` a write stores for the asset bound to `param`: the id itself only while it
/// names a live private asset of the project (bound to `?2`), else NULL — so a row can never
/// deliver another project's file, a public image, or one deleted in the same instant.
fn deliverable(param: &str) -> String {
    format!(
        "(SELECT id FROM assets WHERE id = {param} AND project_id = ?2 AND visibility = 'protected' AND deleted_at IS NULL)"
    )
}

/// The insert of a new tier.
///
/// # Errors
/// Binding failures.
pub fn insert_tier(
    db: &D1Database,
    id: &str,
    project_id: &str,
    spec: &TierSpec,
    stripe: StripeIds<'_>,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        &format!(
            "INSERT INTO tiers (id, project_id, name, display_name, description, price, currency, interval, usage_limit, features, popular, \
             is_default, trial_days, image_url, sort_order, stripe_product_id, stripe_price_id, created_at, updated_at, asset_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18, {})",
            deliverable("?19")
        ),
        &[
            text(id),
            text(project_id),
            text(&spec.name),
            text(&spec.display_name),
            opt_text(spec.description.as_deref()),
            int(spec.price),
            text(&spec.currency),
            text(spec.interval.as_str()),
            limit_param(spec.limit),
            text(&features_json(&spec.features)),
            int(i64::from(spec.popular)),
            int(i64::from(spec.is_free())),
            int(spec.trial_days),
            opt_text(spec.image_url.as_deref()),
            int(spec.sort_order),
            opt_text(stripe.product),
            opt_text(stripe.price),
            int(now),
            opt_text(spec.asset_id.as_deref()),
        ],
    )
}

/// The edit of a tier, applied only while its `updatedAt` is still `expected` and it is not
/// archived.
///
/// # Errors
/// Binding failures.
pub fn update_tier(
    db: &D1Database,
    id: &str,
    project_id: &str,
    spec: &TierSpec,
    stripe: StripeIds<'_>,
    expected: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        &format!(
            "UPDATE tiers SET display_name = ?3, description = ?4, price = ?5, currency = ?6, interval = ?7, usage_limit = ?8, features = ?9, \
             popular = ?10, trial_days = ?11, image_url = ?12, sort_order = ?13, stripe_product_id = ?14, stripe_price_id = ?15, updated_at = ?16, \
             asset_id = {} WHERE id = ?1 AND project_id = ?2 AND updated_at = ?17 AND archived_at IS NULL",
            deliverable("?18")
        ),
        &[
            text(id),
            text(project_id),
            text(&spec.display_name),
            opt_text(spec.description.as_deref()),
            int(spec.price),
            text(&spec.currency),
            text(spec.interval.as_str()),
            limit_param(spec.limit),
            text(&features_json(&spec.features)),
            int(i64::from(spec.popular)),
            int(spec.trial_days),
            opt_text(spec.image_url.as_deref()),
            int(spec.sort_order),
            opt_text(stripe.product),
            opt_text(stripe.price),
            int(now),
            int(expected),
            opt_text(spec.asset_id.as_deref()),
        ],
    )
}

/// The insert of a new product.
///
/// # Errors
/// Binding failures.
pub fn insert_product(
    db: &D1Database,
    id: &str,
    project_id: &str,
    spec: &ProductSpec,
    stripe: StripeIds<'_>,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        &format!(
            "INSERT INTO products (id, project_id, name, display_name, description, price, currency, features, image_url, inventory, sort_order, \
             stripe_product_id, stripe_price_id, created_at, updated_at, asset_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, {})",
            deliverable("?15")
        ),
        &[
            text(id),
            text(project_id),
            text(&spec.name),
            text(&spec.display_name),
            opt_text(spec.description.as_deref()),
            int(spec.price),
            text(&spec.currency),
            text(&features_json(&spec.features)),
            opt_text(spec.image_url.as_deref()),
            limit_param(spec.inventory),
            int(spec.sort_order),
            opt_text(stripe.product),
            opt_text(stripe.price),
            int(now),
            opt_text(spec.asset_id.as_deref()),
        ],
    )
}

/// The edit of a product, applied only while its `updatedAt` is still `expected` and it is
/// not archived.
///
/// # Errors
/// Binding failures.
pub fn update_product(
    db: &D1Database,
    id: &str,
    project_id: &str,
    spec: &ProductSpec,
    stripe: StripeIds<'_>,
    expected: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        &format!(
            "UPDATE products SET display_name = ?3, description = ?4, price = ?5, currency = ?6, features = ?7, image_url = ?8, inventory = ?9, \
             sort_order = ?10, stripe_product_id = ?11, stripe_price_id = ?12, updated_at = ?13, asset_id = {} \
             WHERE id = ?1 AND project_id = ?2 AND updated_at = ?14 AND archived_at IS NULL",
            deliverable("?15")
        ),
        &[
            text(id),
            text(project_id),
            text(&spec.display_name),
            opt_text(spec.description.as_deref()),
            int(spec.price),
            text(&spec.currency),
            text(&features_json(&spec.features)),
            opt_text(spec.image_url.as_deref()),
            limit_param(spec.inventory),
            int(spec.sort_order),
            opt_text(stripe.product),
            opt_text(stripe.price),
            int(now),
            int(expected),
            opt_text(spec.asset_id.as_deref()),
        ],
    )
}

/// Archives a tier or product, only while its `updatedAt` is still `expected`.
///
/// # Errors
/// Binding failures.
pub fn archive(
    db: &D1Database,
    table: Table,
    id: &str,
    project_id: &str,
    expected: i64,
    now: i64,
) -> Result<D1PreparedStatement, ApiError> {
    stmt(
        db,
        &format!(
            "UPDATE {} SET archived_at = ?3, updated_at = ?3 WHERE id = ?1 AND project_id = ?2 AND updated_at = ?4 AND archived_at IS NULL",
            table.name()
        ),
        &[text(id), text(project_id), int(now), int(expected)],
    )
}
