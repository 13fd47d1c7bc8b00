//! The project's side of Stripe: its connected account for the project's mode, and the
//! product/price operations the catalog needs there.

use tollgate::Mode;
use tollgate::stripe::calls::{self, Operation};
use tollgate_edge::ApiError;
use tollgate_edge::db;
use tollgate_edge::stripe::StripeClient;
use worker::{D1Database, Env};

/// What Stripe sells for one tier or product.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Listing<'a> {
    /// `tier` or `product`.
    pub(crate) noun: &'a str,
    /// Our record's id.
    pub(crate) id: &'a str,
    /// Our project.
    pub(crate) project_id: &'a str,
    /// The record's slug.
    pub(crate) name: &'a str,
    /// Shown on Stripe's pages.
    pub(crate) display_name: &'a str,
    /// Shown on Stripe's pages.
    pub(crate) description: Option<&'a str>,
    /// Minor units.
    pub(crate) amount: i64,
    /// ISO code.
    pub(crate) currency: &'a str,
    /// `month`/`year` for tiers, `None` for one-time products.
    pub(crate) interval: Option<&'a str>,
}

impl Listing<'_> {
    fn metadata(&self) -> [(&str, &str); 3] {
        [
            ("tollgate_project_id", self.project_id),
            (
                if self.noun == "tier" {
                    "tollgate_tier_id"
                } else {
                    "tollgate_product_id"
                },
                self.id,
            ),
            ("tollgate_name", self.name),
        ]
    }
}

/// The platform's Stripe client and the connected account that sells for a project.
#[derive(Debug)]
pub(crate) struct Seller {
    client: StripeClient,
    account: String,
}

impl Seller {
    /// The seller for a project of `platform_id` in `mode`.
    ///
    /// # Errors
    /// 428 when the platform has no usable connection in that mode.
    pub(crate) async fn of(
        env: &Env,
        db: &D1Database,
        platform_id: &str,
        mode: Mode,
    ) -> Result<Self, ApiError> {
        let connection = db::connections::connected(db, platform_id, mode.as_str())
            .await?
            .ok_or(ApiError::ConnectionRequired(mode))?;
        Ok(Self {
            client: StripeClient::from_env(env, mode)?,
            account: connection.account_id,
        })
    }

    /// Creates the product and its price; `scope` keeps retries of one operation on the same
    /// idempotency keys. Returns `(product id, price id)`.
    pub(crate) async fn publish(
        &self,
        listing: &Listing<'_>,
        scope: &str,
    ) -> Result<(String, String), ApiError> {
        let metadata = listing.metadata();
        let product = self
            .client
            .send(&calls::create_product(
                Some(&self.account),
                &Operation::new([scope, listing.noun, listing.id, "product"]),
                listing.display_name,
                listing.description,
                &metadata,
            ))
            .await?;
        let price = self.price(listing, &product.id, &[scope, "first"]).await?;
        Ok((product.id, price))
    }

    /// A new price for the product (prices are immutable); `version` tells apart successive
    /// price changes of one record.
    pub(crate) async fn price(
        &self,
        listing: &Listing<'_>,
        product: &str,
        version: &[&str],
    ) -> Result<String, ApiError> {
        let mut parts = vec![listing.noun, listing.id, "price"];
        parts.extend_from_slice(version);
        let price = self
            .client
            .send(&calls::create_price(
                Some(&self.account),
                &Operation::new(parts),
                product,
                listing.amount,
                listing.currency,
                listing.interval,
                &listing.metadata(),
            ))
            .await?;
        Ok(price.id)
    }

    /// Updates the product's name and description, or archives it (`active = false`).
    pub(crate) async fn update_product(
        &self,
        listing: &Listing<'_>,
        product: &str,
        active: bool,
        version: &str,
    ) -> Result<(), ApiError> {
        self.client
            .send(&calls::update_product(
                &self.account,
                product,
                &Operation::new([listing.noun, listing.id, "product", version]),
                listing.display_name,
                listing.description,
                active,
            ))
            .await
            .map(drop)
    }

    /// Stops a price from selling.
    pub(crate) async fn archive_price(&self, price: &str) -> Result<(), ApiError> {
        self.client
            .send(&calls::archive_price(
                &self.account,
                price,
                &Operation::new(["price", price, "archive"]),
            ))
            .await
            .map(drop)
    }
}
