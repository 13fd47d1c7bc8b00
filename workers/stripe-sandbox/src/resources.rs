//! Customers, products and prices (create, retrieve, update, list), and the retrieve and
//! list plumbing every resource shares: 404s in Stripe's words, paging cursors that must
//! exist, and `expand[]` of the fields a resource allows.

use crate::call::{Call, Outcome};
use crate::http::Fail;
use crate::model::error::StripeError;
use crate::model::params::Params;
use crate::model::{Filter, charges, customers, list, prices, products, text};
use serde_json::Value;
use tollgate::ids::new_id;

/// How Stripe names a type in "No such …" messages.
fn noun(kind: &str) -> &str {
    match kind {
        "webhook_endpoint" => "webhook endpoint",
        "subscription_item" => "subscription item",
        other => other,
    }
}

/// The object `id` of type `kind`, or Stripe's 404 naming `param`.
pub(crate) async fn existing(
    call: &Call,
    kind: &str,
    id: &str,
    param: &str,
) -> Result<Value, Fail> {
    call.store
        .get(&call.scope, kind, id)
        .await?
        .ok_or_else(|| StripeError::no_such(noun(kind), id, param).into())
}

/// Replaces each field in `requested` by the object its id names, when `allowed` lists the
/// field (with the type of object it names).
///
/// # Errors
/// 400 for a field that cannot be expanded.
pub(crate) async fn expand(
    call: &Call,
    mut value: Value,
    requested: &[String],
    allowed: &[(&str, &str)],
) -> Result<Value, Fail> {
    for field in requested {
        let Some((_, kind)) = allowed.iter().find(|(name, _)| name == field) else {
            return Err(StripeError::invalid(format!(
                "This property cannot be expanded ({field}). The Stripe sandbox expands: {}.",
                if allowed.is_empty() {
                    "nothing on this object".to_owned()
                } else {
                    allowed
                        .iter()
                        .map(|(name, _)| *name)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
            .with_param("expand")
            .into());
        };
        if let Some(id) = text(&value, field).map(str::to_owned) {
            let object = existing(call, kind, &id, field).await?;
            crate::model::set(&mut value, field, object);
        }
    }
    Ok(value)
}

/// The fields each retrievable type lets callers expand.
fn expandable(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "invoice" => &[("customer", "customer"), ("subscription", "subscription")],
        "payment_intent" => &[("customer", "customer"), ("latest_charge", "charge")],
        "charge" => &[
            ("customer", "customer"),
            ("payment_intent", "payment_intent"),
        ],
        "refund" | "dispute" => &[("charge", "charge"), ("payment_intent", "payment_intent")],
        _ => &[],
    }
}

/// `GET /v1/<kind>s/{id}`.
pub(crate) async fn get(call: &Call, mut p: Params, kind: &str) -> Result<Outcome, Fail> {
    let requested = p.expand()?;
    p.finish()?;
    let object = existing(call, kind, call.path("id"), "id").await?;
    Ok(Outcome::read(
        expand(call, object, &requested, expandable(kind)).await?,
    ))
}

/// A page of `kind` objects, after checking that the paging cursor exists.
pub(crate) async fn page(
    call: &Call,
    p: &mut Params,
    kind: &str,
    filters: &[Filter],
) -> Result<(Vec<Value>, bool), Fail> {
    let options = p.list_options()?;
    for (param, cursor) in [
        ("starting_after", &options.starting_after),
        ("ending_before", &options.ending_before),
    ] {
        if let Some(id) = cursor {
            existing(call, kind, id, param).await?;
        }
    }
    call.store.list(&call.scope, kind, filters, &options).await
}

async fn list_of(
    call: &Call,
    mut p: Params,
    kind: &str,
    url: &str,
    filters: fn(&mut Params) -> Result<Vec<Filter>, StripeError>,
) -> Result<Outcome, Fail> {
    let filters = filters(&mut p)?;
    p.expand()?;
    let (data, has_more) = page(call, &mut p, kind, &filters).await?;
    p.finish()?;
    Ok(Outcome::read(list(url, data, has_more)))
}

/// Stores a new object and answers it.
fn created(
    call: &Call,
    kind: &str,
    object: Value,
    events: Vec<(crate::store::Scope, crate::model::events::Draft)>,
) -> Result<Outcome, Fail> {
    let write = call.store.insert(&call.scope, kind, &object, call.now_ms)?;
    Ok(Outcome::write(object, vec![write], events))
}

pub(crate) async fn create_customer(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let fields = customers::parse(&mut p)?;
    p.expand()?;
    p.finish()?;
    let customer = customers::build(&new_id("cus"), fields, call.stamp);
    let event = call.event(crate::model::events::Draft::new(
        "customer.created",
        customer.clone(),
    ));
    created(call, "customer", customer, vec![event])
}

pub(crate) async fn update_customer(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let fields = customers::parse(&mut p)?;
    p.expand()?;
    p.finish()?;
    let old = existing(call, "customer", call.path("id"), "id").await?;
    let customer = customers::update(&old, fields);
    let write = call.store.replace(&call.scope, &customer)?;
    Ok(Outcome::write(customer, vec![write], Vec::new()))
}

pub(crate) async fn list_customers(call: &Call, p: Params) -> Result<Outcome, Fail> {
    list_of(call, p, "customer", "/v1/customers", customers::filters).await
}

pub(crate) async fn list_charges(call: &Call, p: Params) -> Result<Outcome, Fail> {
    list_of(call, p, "charge", "/v1/charges", charges::filters).await
}

pub(crate) async fn create_product(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let fields = products::parse(&mut p, true)?;
    p.expand()?;
    p.finish()?;
    created(
        call,
        "product",
        products::build(&new_id("prod"), fields, call.stamp),
        Vec::new(),
    )
}

pub(crate) async fn update_product(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let fields = products::parse(&mut p, false)?;
    p.expand()?;
    p.finish()?;
    let old = existing(call, "product", call.path("id"), "id").await?;
    let product = products::update(&old, fields, call.stamp.now);
    let write = call.store.replace(&call.scope, &product)?;
    Ok(Outcome::write(product, vec![write], Vec::new()))
}

pub(crate) async fn list_products(call: &Call, p: Params) -> Result<Outcome, Fail> {
    list_of(call, p, "product", "/v1/products", products::filters).await
}

pub(crate) async fn create_price(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let new = prices::parse_create(&mut p)?;
    p.expand()?;
    p.finish()?;
    existing(call, "product", &new.product, "product").await?;
    created(
        call,
        "price",
        prices::build(&new_id("price"), &new, call.stamp),
        Vec::new(),
    )
}

pub(crate) async fn update_price(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let old = existing(call, "price", call.path("id"), "id").await?;
    let price = prices::update(&old, &mut p)?;
    p.expand()?;
    p.finish()?;
    let write = call.store.replace(&call.scope, &price)?;
    Ok(Outcome::write(price, vec![write], Vec::new()))
}

pub(crate) async fn list_prices(call: &Call, p: Params) -> Result<Outcome, Fail> {
    list_of(call, p, "price", "/v1/prices", prices::filters).await
}
