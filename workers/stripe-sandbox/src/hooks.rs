//! Webhook endpoint routes (create, list, delete; retrieve is shared) and event lists. An
//! endpoint's secret is generated here, stored apart from the endpoint object, and shown
//! only in the answer that creates it.

use crate::call::{Call, Outcome};
use crate::http::Fail;
use crate::model::events;
use crate::model::params::Params;
use crate::model::{deleted, list, set, webhooks};
use crate::resources::{self, existing};
use serde_json::json;
use tollgate::ids::{base62_u128, new_id, random_u128};

pub(crate) async fn create_endpoint(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let new = webhooks::parse_create(&mut p)?;
    p.expand()?;
    p.finish()?;
    let endpoint = webhooks::build(&new_id("we"), &new, call.stamp);
    let id = crate::model::text(&endpoint, "id")
        .unwrap_or_default()
        .to_owned();
    let secret = format!(
        "whsec_{}{}",
        base62_u128(random_u128()),
        base62_u128(random_u128())
    );
    let writes = vec![
        call.store
            .insert(&call.scope, "webhook_endpoint", &endpoint, call.now_ms)?,
        call.store
            .insert_endpoint_settings(&id, &secret, new.connect)?,
    ];
    let mut shown = endpoint;
    set(&mut shown, "secret", json!(secret));
    Ok(Outcome::write(shown, writes, Vec::new()))
}

pub(crate) async fn list_endpoints(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    p.expand()?;
    let (data, has_more) = resources::page(call, &mut p, "webhook_endpoint", &[]).await?;
    p.finish()?;
    Ok(Outcome::read(list("/v1/webhook_endpoints", data, has_more)))
}

pub(crate) async fn delete_endpoint(call: &Call, p: Params) -> Result<Outcome, Fail> {
    p.finish()?;
    let id = call.path("id");
    existing(call, "webhook_endpoint", id, "id").await?;
    let writes = vec![
        call.store.remove(&call.scope, id)?,
        call.store.remove_endpoint_settings(id)?,
    ];
    Ok(Outcome::write(
        deleted(id, "webhook_endpoint"),
        writes,
        Vec::new(),
    ))
}

pub(crate) async fn list_events(call: &Call, mut p: Params) -> Result<Outcome, Fail> {
    let filters = events::filters(&mut p)?;
    p.expand()?;
    let (data, has_more) = resources::page(call, &mut p, "event", &filters).await?;
    p.finish()?;
    Ok(Outcome::read(list("/v1/events", data, has_more)))
}
