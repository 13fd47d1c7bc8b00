//! Tiers (SaaS) and products (Store): list, read, create, edit and archive. Stripe is
//! updated before the row, so a row never names a Stripe product or price that does not
//! exist; the row change and its audit event are one guarded batch.

use crate::seller::{Listing, Seller};
use serde_json::{Value, json};
use tollgate::assets::Visibility;
use tollgate::catalog::{
    ArchiveInput, ProductInput, ProductSpec, StripeChanges, TierInput, TierSpec, check_tier_edit,
};
use tollgate::ids::new_id;
use tollgate::limits::Cap;
use tollgate::usage::Limit;
use tollgate::{Mode, ProjectType};
use tollgate_edge::audit::{self, Change};
use tollgate_edge::db::catalog::{self as store, ProductRow, StripeIds, Table, TierRow};
use tollgate_edge::db::{self, Violation, projects::ProjectRow};
use tollgate_edge::idempotent::{self, Claim};
use tollgate_edge::session::Session;
use tollgate_edge::{ApiError, Ctx, body, json, json_text, limits, list, log, meter};
use wasm_bindgen::JsValue;
use worker::Response;

/// Which catalog a route serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// SaaS tiers.
    Tier,
    /// Store products.
    Product,
}

impl Kind {
    const fn project_type(self) -> ProjectType {
        match self {
            Self::Tier => ProjectType::Saas,
            Self::Product => ProjectType::Store,
        }
    }

    const fn table(self) -> Table {
        match self {
            Self::Tier => Table::Tiers,
            Self::Product => Table::Products,
        }
    }

    const fn noun(self) -> &'static str {
        match self {
            Self::Tier => "tier",
            Self::Product => "product",
        }
    }

    const fn id_prefix(self) -> &'static str {
        match self {
            Self::Tier => "tier",
            Self::Product => "prd",
        }
    }
}

/// A validated tier or product.
#[derive(Debug)]
pub(crate) enum Spec {
    Tier(TierSpec),
    Product(ProductSpec),
}

impl Spec {
    fn parse(kind: Kind, bytes: &[u8]) -> Result<Self, ApiError> {
        match kind {
            Kind::Tier => body::parse::<TierInput>(bytes)?.create().map(Self::Tier),
            Kind::Product => body::parse::<ProductInput>(bytes)?
                .create()
                .map(Self::Product),
        }
        .map_err(ApiError::Validation)
    }

    fn name(&self) -> &str {
        match self {
            Self::Tier(t) => &t.name,
            Self::Product(p) => &p.name,
        }
    }

    fn asset_id(&self) -> Option<&str> {
        match self {
            Self::Tier(t) => t.asset_id.as_deref(),
            Self::Product(p) => p.asset_id.as_deref(),
        }
    }

    /// A download it names must be a live private asset of the project; one it already
    /// delivers needs no new check (a delivered asset cannot be deleted).
    async fn check_asset(
        &self,
        session: &Session,
        project_id: &str,
        current: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(id) = self.asset_id().filter(|id| Some(*id) != current) else {
            return Ok(());
        };
        match db::assets::get(&session.db, project_id, id).await? {
            Some(asset) if asset.visibility() == Visibility::Private => Ok(()),
            _ => Err(ApiError::field(
                "assetId",
                "must be a private asset of this project (uploaded with visibility=private)",
            )),
        }
    }

    /// What Stripe sells for it; the free tier sells nothing.
    pub(crate) fn listing<'a>(&'a self, id: &'a str, project_id: &'a str) -> Option<Listing<'a>> {
        match self {
            Self::Tier(t) if t.is_free() => None,
            Self::Tier(t) => Some(Listing {
                noun: "tier",
                id,
                project_id,
                name: &t.name,
                display_name: &t.display_name,
                description: t.description.as_deref(),
                amount: t.price,
                currency: &t.currency,
                interval: Some(t.interval.as_str()),
            }),
            Self::Product(p) => Some(Listing {
                noun: "product",
                id,
                project_id,
                name: &p.name,
                display_name: &p.display_name,
                description: p.description.as_deref(),
                amount: p.price,
                currency: &p.currency,
                interval: None,
            }),
        }
    }
}

/// A stored tier or product.
#[derive(Debug)]
pub(crate) enum Row {
    Tier(TierRow),
    Product(ProductRow),
}

impl Row {
    fn id(&self) -> &str {
        match self {
            Self::Tier(t) => &t.id,
            Self::Product(p) => &p.id,
        }
    }

    const fn updated_at(&self) -> i64 {
        match self {
            Self::Tier(t) => t.updated_at,
            Self::Product(p) => p.updated_at,
        }
    }

    const fn archived(&self) -> bool {
        match self {
            Self::Tier(t) => t.archived_at.is_some(),
            Self::Product(p) => p.archived_at.is_some(),
        }
    }

    fn stripe_product(&self) -> Option<&str> {
        match self {
            Self::Tier(t) => t.stripe_product_id.as_deref(),
            Self::Product(p) => p.stripe_product_id.as_deref(),
        }
    }

    fn stripe_price(&self) -> Option<&str> {
        match self {
            Self::Tier(t) => t.stripe_price_id.as_deref(),
            Self::Product(p) => p.stripe_price_id.as_deref(),
        }
    }

    fn spec(&self) -> Spec {
        match self {
            Self::Tier(t) => Spec::Tier(t.spec()),
            Self::Product(p) => Spec::Product(p.spec()),
        }
    }

    /// The developer's view: the public fields plus Stripe ids and record times.
    pub(crate) fn view(&self, project_id: &str) -> Value {
        let features = |raw: &str| serde_json::from_str::<Value>(raw).unwrap_or_else(|_| json!([]));
        match self {
            Self::Tier(t) => json!({
                "id": t.id, "projectId": project_id, "name": t.name, "displayName": t.display_name,
                "description": t.description, "price": t.price, "currency": t.currency, "interval": t.interval,
                "limit": Limit::from_column(t.usage_limit), "features": features(&t.features), "popular": t.popular == 1,
                "isFree": t.is_default == 1, "trialDays": t.trial_days, "imageUrl": t.image_url, "sortOrder": t.sort_order,
                "assetId": t.asset_id,
                "stripeProductId": t.stripe_product_id, "stripePriceId": t.stripe_price_id,
                "archivedAt": t.archived_at, "createdAt": t.created_at, "updatedAt": t.updated_at,
            }),
            Self::Product(p) => json!({
                "id": p.id, "projectId": project_id, "name": p.name, "displayName": p.display_name,
                "description": p.description, "price": p.price, "currency": p.currency,
                "features": features(&p.features), "imageUrl": p.image_url, "inventory": p.inventory,
                "soldOut": p.inventory == Some(0), "sortOrder": p.sort_order, "assetId": p.asset_id,
                "stripeProductId": p.stripe_product_id, "stripePriceId": p.stripe_price_id,
                "archivedAt": p.archived_at, "createdAt": p.created_at, "updatedAt": p.updated_at,
            }),
        }
    }
}

/// The session's project, if it carries this kind of catalog.
async fn project(ctx: &Ctx, session: &Session, kind: Kind) -> Result<ProjectRow, ApiError> {
    let project = session.project(ctx).await?;
    if ProjectType::parse(&project.project_type) != Some(kind.project_type()) {
        return Err(ApiError::WrongProjectType(kind.project_type()));
    }
    Ok(project)
}

fn mode_of(project: &ProjectRow) -> Result<Mode, ApiError> {
    Mode::parse(&project.mode).ok_or_else(|| {
        ApiError::internal(format!("project {} has mode {}", project.id, project.mode))
    })
}

async fn load(
    session: &Session,
    kind: Kind,
    project_id: &str,
    id: &str,
) -> Result<Option<Row>, ApiError> {
    Ok(match kind {
        Kind::Tier => store::tier(&session.db, project_id, id)
            .await?
            .map(Row::Tier),
        Kind::Product => store::product(&session.db, project_id, id)
            .await?
            .map(Row::Product),
    })
}

async fn item(ctx: &Ctx, session: &Session, kind: Kind, project_id: &str) -> Result<Row, ApiError> {
    let id = ctx.params.get("itemId").ok_or(ApiError::NotFound)?;
    load(session, kind, project_id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

fn detail(row: &Row, project_id: &str, status: u16) -> Result<(u16, String), ApiError> {
    Ok((
        status,
        serde_json::to_string(&json!({ "data": row.view(project_id) }))?,
    ))
}

/// `GET …/tiers` and `…/products`: every record, archived ones last.
pub(crate) async fn list(ctx: Ctx, kind: Kind) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = project(&ctx, &session, kind).await?;
    let page = list::page(&ctx)?;
    let (rows, total): (Vec<Row>, u64) = match kind {
        Kind::Tier => {
            let (rows, total) = store::tier_page(&session.db, &project.id, page).await?;
            (rows.into_iter().map(Row::Tier).collect(), total)
        }
        Kind::Product => {
            let (rows, total) = store::product_page(&session.db, &project.id, page).await?;
            (rows.into_iter().map(Row::Product).collect(), total)
        }
    };
    list::respond(rows, total, page, |row| row.view(&project.id))
}

/// `GET …/{itemId}`.
pub(crate) async fn get(ctx: Ctx, kind: Kind) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = project(&ctx, &session, kind).await?;
    let row = item(&ctx, &session, kind, &project.id).await?;
    json(200, &json!({ "data": row.view(&project.id) }))
}

/// `POST …/tiers` and `…/products` (`Idempotency-Key` honoured).
pub(crate) async fn create(mut ctx: Ctx, kind: Kind) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = project(&ctx, &session, kind).await?;
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let spec = Spec::parse(kind, &bytes)?;
    idempotent::run(&ctx, &session.db, &project.id, &bytes, async |claim| {
        insert(&ctx, &session, &project, kind, &spec, claim).await
    })
    .await
}

/// A unique index that caught a race the pre-check missed: the name index names the column,
/// the one-free-tier index only the project.
fn unique_violation(error: ApiError) -> ApiError {
    match error.violation() {
        Some(v) if v.is_unique_on("tiers.name") || v.is_unique_on("products.name") => {
            ApiError::DuplicateName
        }
        Some(Violation::Unique(_)) => ApiError::FreeTierExists,
        _ => error,
    }
}

async fn insert(
    ctx: &Ctx,
    session: &Session,
    project: &ProjectRow,
    kind: Kind,
    spec: &Spec,
    claim: Option<&Claim>,
) -> Result<Response, ApiError> {
    let taken = store::taken(&session.db, &project.id, kind.table(), spec.name()).await?;
    if taken.name {
        return Err(ApiError::DuplicateName);
    }
    if matches!(spec, Spec::Tier(t) if t.is_free()) && taken.free_tier {
        return Err(ApiError::FreeTierExists);
    }
    if project.mode == Mode::Test.as_str() {
        limits::check(&ctx.env, Cap::CatalogItemsPerTestProject, taken.items, 1)?;
    }
    spec.check_asset(session, &project.id, None).await?;
    let id = new_id(kind.id_prefix());
    let published = match spec.listing(&id, &project.id) {
        Some(listing) => {
            let seller = Seller::of(
                &ctx.env,
                &session.db,
                &session.platform.id,
                mode_of(project)?,
            )
            .await?;
            Some(seller.publish(&listing, "create").await?)
        }
        None => None,
    };
    let stripe = StripeIds {
        product: published.as_ref().map(|(p, _)| p.as_str()),
        price: published.as_ref().map(|(_, p)| p.as_str()),
    };
    let now = ctx.now_ms;
    let mut statements = vec![
        match spec {
            Spec::Tier(t) => store::insert_tier(&session.db, &id, &project.id, t, stripe, now)?,
            Spec::Product(p) => {
                store::insert_product(&session.db, &id, &project.id, p, stripe, now)?
            }
        },
        audited(
            ctx,
            session,
            kind,
            &project.id,
            &id,
            "created",
            &json!({ "name": spec.name(), "stripePriceId": stripe.price, "assetId": spec.asset_id() }),
            None,
        )?,
    ];
    // The answer is recorded before the batch runs, so it is built from what the batch writes.
    let row = preview(kind, &id, spec, stripe, now);
    let (status, body) = detail(&row, &project.id, 201)?;
    if let Some(claim) = claim {
        statements.push(idempotent::record(ctx, &session.db, claim, status, &body, false).await?);
    }
    db::batch(&session.db, statements)
        .await
        .map_err(unique_violation)?;
    tiers_changed(ctx, session, kind, &project.id).await;
    json_text(status, body)
}

/// After a tier was created, edited or archived: any end user's allowance may come from it
/// (by subscription, by assigned name, as the default), so every metering object of the
/// project reads the records again before its next count. A failure to list them is
/// logged: the edit stands, and objects read the records again when they wake.
async fn tiers_changed(ctx: &Ctx, session: &Session, kind: Kind, project_id: &str) {
    if kind != Kind::Tier {
        return;
    }
    if let Err(error) =
        meter::forget_project(&ctx.env, &session.db, &ctx.request_id, project_id).await
    {
        log::error(&ctx.request_id, "meter_forget_failed", &error.for_log());
    }
}

/// The row a create writes, for its answer.
fn preview(kind: Kind, id: &str, spec: &Spec, stripe: StripeIds<'_>, now: i64) -> Row {
    let features = |f: &[String]| Value::from(f.to_vec()).to_string();
    match (kind, spec) {
        (_, Spec::Tier(t)) => Row::Tier(TierRow {
            id: id.to_owned(),
            name: t.name.clone(),
            display_name: t.display_name.clone(),
            description: t.description.clone(),
            price: t.price,
            currency: t.currency.clone(),
            interval: t.interval.as_str().to_owned(),
            usage_limit: t.limit,
            features: features(&t.features),
            popular: i64::from(t.popular),
            is_default: i64::from(t.is_free()),
            trial_days: t.trial_days,
            image_url: t.image_url.clone(),
            stripe_product_id: stripe.product.map(str::to_owned),
            stripe_price_id: stripe.price.map(str::to_owned),
            sort_order: t.sort_order,
            asset_id: t.asset_id.clone(),
            archived_at: None,
            created_at: now,
            updated_at: now,
        }),
        (_, Spec::Product(p)) => Row::Product(ProductRow {
            id: id.to_owned(),
            name: p.name.clone(),
            display_name: p.display_name.clone(),
            description: p.description.clone(),
            price: p.price,
            currency: p.currency.clone(),
            features: features(&p.features),
            image_url: p.image_url.clone(),
            inventory: p.inventory,
            stripe_product_id: stripe.product.map(str::to_owned),
            stripe_price_id: stripe.price.map(str::to_owned),
            sort_order: p.sort_order,
            asset_id: p.asset_id.clone(),
            archived_at: None,
            created_at: now,
            updated_at: now,
        }),
    }
}

/// The audit event for `verb` (`created`, `updated`, `archived`) on a record. With
/// `guarded_at`, it is written only if the record's `updated_at` is that value when the
/// batch reaches it, so an edit that lost a race leaves no event.
#[expect(clippy::too_many_arguments, reason = "one event's facts, each needed")]
fn audited(
    ctx: &Ctx,
    session: &Session,
    kind: Kind,
    project_id: &str,
    id: &str,
    verb: &str,
    metadata: &Value,
    guarded_at: Option<i64>,
) -> Result<worker::D1PreparedStatement, ApiError> {
    let guard = guarded_at.map(|at| {
        (
            format!(
                "EXISTS (SELECT 1 FROM {} WHERE id = ?13 AND updated_at = ?14)",
                kind.table().name()
            ),
            [JsValue::from_str(id), JsValue::from_f64(at as f64)],
        )
    });
    audit::event_when(
        ctx,
        &session.db,
        session.actor(),
        Change {
            project_id: Some(project_id),
            action: &format!("{}.{verb}", kind.noun()),
            target_type: kind.noun(),
            target_id: id,
        },
        metadata,
        guard
            .as_ref()
            .map(|(sql, params)| (sql.as_str(), params.clone())),
    )
}

fn cleanup(ctx: &Ctx, what: &str, result: Result<(), ApiError>) {
    if let Err(error) = result {
        log::warn(
            &ctx.request_id,
            "stripe_cleanup",
            &format!("{what}: {}", error.for_log()),
        );
    }
}

/// `PATCH …/{itemId}`: fields to change plus the `updatedAt` last read.
pub(crate) async fn edit(mut ctx: Ctx, kind: Kind) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = project(&ctx, &session, kind).await?;
    let row = item(&ctx, &session, kind, &project.id).await?;
    let bytes = body::read(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let current = row.spec();
    let (next, expected) = match &current {
        Spec::Tier(t) => body::parse::<TierInput>(&bytes)?
            .edit(t)
            .map(|(s, e)| (Spec::Tier(s), e)),
        Spec::Product(p) => body::parse::<ProductInput>(&bytes)?
            .edit(p)
            .map(|(s, e)| (Spec::Product(s), e)),
    }
    .map_err(ApiError::Validation)?;
    if row.archived() {
        return Err(ApiError::Archived);
    }
    if row.updated_at() != expected {
        return Err(ApiError::StaleUpdate);
    }
    next.check_asset(&session, &project.id, current.asset_id())
        .await?;
    let changes = match (&current, &next) {
        (Spec::Tier(a), Spec::Tier(b)) => {
            check_tier_edit(a, b).map_err(|_| ApiError::FreeTierLocked)?;
            a.changes_to(b)
        }
        (Spec::Product(a), Spec::Product(b)) => a.changes_to(b),
        _ => return Err(ApiError::internal("an edit changed the record's kind")),
    };
    let now = ctx.now_ms.max(expected + 1);
    let version = now.to_string();
    let (product, price) =
        sync_edit(&ctx, &session, &project, &row, &next, changes, &version).await?;
    let stripe = StripeIds {
        product: product.as_deref(),
        price: price.as_deref(),
    };
    let statements = vec![
        match &next {
            Spec::Tier(t) => {
                store::update_tier(&session.db, row.id(), &project.id, t, stripe, expected, now)?
            }
            Spec::Product(p) => {
                store::update_product(&session.db, row.id(), &project.id, p, stripe, expected, now)?
            }
        },
        audited(
            &ctx,
            &session,
            kind,
            &project.id,
            row.id(),
            "updated",
            &json!({ "newPrice": changes.new_price, "stripePriceId": stripe.price, "assetId": next.asset_id() }),
            Some(now),
        )?,
    ];
    let applied = db::batch(&session.db, statements).await?;
    let seller = || {
        Seller::of(
            &ctx.env,
            &session.db,
            &session.platform.id,
            mode_of(&project).unwrap_or(Mode::Test),
        )
    };
    if applied.first() != Some(&1) {
        // Someone else's edit won: the price made for this one must not sell.
        if changes.new_price
            && price.as_deref() != row.stripe_price()
            && let Some(price) = price.as_deref()
        {
            cleanup(
                &ctx,
                "archive unused price",
                async { seller().await?.archive_price(price).await }.await,
            );
        }
        return Err(ApiError::StaleUpdate);
    }
    if price.as_deref() != row.stripe_price()
        && let Some(old) = row.stripe_price()
    {
        cleanup(
            &ctx,
            "archive replaced price",
            async { seller().await?.archive_price(old).await }.await,
        );
    }
    tiers_changed(&ctx, &session, kind, &project.id).await;
    let fresh = load(&session, kind, &project.id, row.id())
        .await?
        .ok_or(ApiError::NotFound)?;
    json(200, &json!({ "data": fresh.view(&project.id) }))
}

/// Brings Stripe in line with an edit before the row changes: new text on the product, a new
/// price when the amount, currency or interval moved. Returns the ids the row should name.
async fn sync_edit(
    ctx: &Ctx,
    session: &Session,
    project: &ProjectRow,
    row: &Row,
    next: &Spec,
    changes: StripeChanges,
    version: &str,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let product = row.stripe_product().map(str::to_owned);
    let price = row.stripe_price().map(str::to_owned);
    let Some(listing) = next.listing(row.id(), &project.id) else {
        return Ok((product, price));
    };
    let missing = product.is_none() || price.is_none();
    if !missing && !changes.new_price && !changes.product_text {
        return Ok((product, price));
    }
    let seller = Seller::of(
        &ctx.env,
        &session.db,
        &session.platform.id,
        mode_of(project)?,
    )
    .await?;
    let Some(product) = product else {
        // A record made before Stripe was connected (or seeded) gets its Stripe objects now.
        let (product, price) = seller.publish(&listing, &format!("edit-{version}")).await?;
        return Ok((Some(product), Some(price)));
    };
    if changes.product_text {
        seller
            .update_product(&listing, &product, true, version)
            .await?;
    }
    let price = if changes.new_price || price.is_none() {
        Some(seller.price(&listing, &product, &[version]).await?)
    } else {
        price
    };
    Ok((Some(product), price))
}

/// `POST …/{itemId}/archive` with the `updatedAt` last read: stops it selling. Existing
/// subscriptions and orders keep their records.
pub(crate) async fn archive(mut ctx: Ctx, kind: Kind) -> Result<Response, ApiError> {
    let session = Session::start(&ctx).await?;
    let project = project(&ctx, &session, kind).await?;
    let row = item(&ctx, &session, kind, &project.id).await?;
    let input = body::json::<ArchiveInput>(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    if row.archived() {
        return Err(ApiError::Archived);
    }
    if row.updated_at() != input.updated_at {
        return Err(ApiError::StaleUpdate);
    }
    if matches!(&row, Row::Tier(t) if t.is_default == 1) {
        return Err(ApiError::FreeTierLocked);
    }
    let now = ctx.now_ms.max(input.updated_at + 1);
    let applied = db::batch(
        &session.db,
        vec![
            store::archive(
                &session.db,
                kind.table(),
                row.id(),
                &project.id,
                input.updated_at,
                now,
            )?,
            audited(
                &ctx,
                &session,
                kind,
                &project.id,
                row.id(),
                "archived",
                &json!({ "name": row.spec().name() }),
                Some(now),
            )?,
        ],
    )
    .await?;
    if applied.first() != Some(&1) {
        return Err(ApiError::StaleUpdate);
    }
    tiers_changed(&ctx, &session, kind, &project.id).await;
    // The row no longer sells whatever Stripe says; Stripe is told so its pages agree.
    if let (Some(product), Some(price)) = (row.stripe_product(), row.stripe_price()) {
        let spec = row.spec();
        if let Some(listing) = spec.listing(row.id(), &project.id) {
            let result = async {
                let seller = Seller::of(
                    &ctx.env,
                    &session.db,
                    &session.platform.id,
                    mode_of(&project)?,
                )
                .await?;
                seller.archive_price(price).await?;
                seller
                    .update_product(&listing, product, false, &now.to_string())
                    .await
            }
            .await;
            cleanup(&ctx, "archive on Stripe", result);
        }
    }
    let fresh = load(&session, kind, &project.id, row.id())
        .await?
        .ok_or(ApiError::NotFound)?;
    json(200, &json!({ "data": fresh.view(&project.id) }))
}
