//! Webhook endpoints: the parameters they take (url, enabled events, Connect or not,
//! description, metadata), the object, and its signing secret, shown once at creation.

use super::error::StripeError;
use super::params::{MetadataPatch, Params};
use super::{Stamp, is_http_url};
use serde_json::{Value, json};

/// A validated new endpoint.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NewEndpoint {
    url: String,
    pub(crate) enabled_events: Vec<String>,
    pub(crate) connect: bool,
    description: Option<String>,
    metadata: Option<MetadataPatch>,
}

/// Whether `name` can be an event type: `*`, or dotted lower-case words (`invoice.paid`).
fn is_event_type(name: &str) -> bool {
    name == "*"
        || (name.contains('.')
            && name.split('.').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            }))
}

/// Reads `POST /v1/webhook_endpoints`. `api_version` is accepted (events are always in the
/// pinned version) as long as it names that version.
///
/// # Errors
/// Unknown or missing parameters, a URL that is not http(s), no events, or a name that
/// cannot be an event type.
pub(crate) fn parse_create(p: &mut Params) -> Result<NewEndpoint, StripeError> {
    let url = p.required_string("url")?;
    if !is_http_url(&url) {
        return Err(StripeError::invalid_value(
            "url",
            "url_invalid",
            "Invalid URL: url must be an http(s) URL",
        ));
    }
    let enabled_events = p
        .strings("enabled_events")?
        .filter(|e| !e.is_empty())
        .ok_or_else(|| StripeError::missing_parameter("enabled_events"))?;
    if let Some((index, bad)) = enabled_events
        .iter()
        .enumerate()
        .find(|(_, e)| !is_event_type(e))
    {
        return Err(StripeError::invalid(format!(
            "Invalid enabled_events[{index}]: {bad} is not an event type"
        ))
        .with_param(&format!("enabled_events[{index}]")));
    }
    if let Some(version) = p.string("api_version")?
        && !version.is_empty()
        && version != super::events::API_VERSION
    {
        return Err(StripeError::invalid(format!(
            "The Stripe sandbox sends events in API version {} only.",
            super::events::API_VERSION
        ))
        .with_param("api_version"));
    }
    Ok(NewEndpoint {
        url,
        enabled_events,
        connect: p.boolean("connect")?.unwrap_or(false),
        description: p.string("description")?.filter(|d| !d.is_empty()),
        metadata: p.metadata("metadata")?,
    })
}

/// A new endpoint, without its secret (which is stored apart and added only to the answer
/// of its creation).
pub(crate) fn build(id: &str, new: &NewEndpoint, stamp: Stamp) -> Value {
    json!({
        "id": id,
        "object": "webhook_endpoint",
        "api_version": null,
        "application": null,
        "created": stamp.now,
        "description": new.description,
        "enabled_events": new.enabled_events,
        "livemode": stamp.livemode,
        "metadata": MetadataPatch::fresh(new.metadata.as_ref()),
        "status": "enabled",
        "url": new.url,
    })
}

/// The endpoint's URL.
pub(crate) fn url(endpoint: &Value) -> &str {
    super::text(endpoint, "url").unwrap_or_default()
}

/// The event types the endpoint asked for.
pub(crate) fn enabled_events(endpoint: &Value) -> Vec<String> {
    endpoint
        .get("enabled_events")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> Params {
        Params::of(value)
    }

    #[test]
    fn a_new_endpoint_is_enabled_for_its_events() {
        let new = parse_create(&mut params(
            json!({"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"], "connect": "true"}),
        ))
        .unwrap();

        let endpoint = build(
            "we_1",
            &new,
            Stamp {
                now: 7,
                livemode: false,
            },
        );

        assert!(new.connect);
        assert_eq!(endpoint["status"], "enabled");
        assert_eq!(endpoint["enabled_events"], json!(["*"]));
        assert!(endpoint.get("secret").is_none());
        assert_eq!(enabled_events(&endpoint), vec!["*".to_owned()]);
        assert_eq!(url(&endpoint), "http://127.0.0.1:9/hook");
    }

    #[test]
    fn endpoints_need_an_http_url_and_real_event_types() {
        let cases = [
            (json!({"enabled_events": ["*"]}), "url"),
            (
                json!({"url": "ftp://x.test", "enabled_events": ["*"]}),
                "url",
            ),
            (json!({"url": "https://x.test"}), "enabled_events"),
            (
                json!({"url": "https://x.test", "enabled_events": ["invoice.paid", "Invoice"]}),
                "enabled_events[1]",
            ),
            (
                json!({"url": "https://x.test", "enabled_events": ["*"], "api_version": "2020-08-27"}),
                "api_version",
            ),
        ];
        for (input, param) in cases {
            let error = parse_create(&mut params(input.clone())).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{input}");
        }
    }
}
