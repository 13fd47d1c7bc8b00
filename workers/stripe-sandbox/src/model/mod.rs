//! The sandbox's pure rules: decoding and validating parameters, building Stripe objects in
//! the shapes of the pinned API version, period arithmetic, and the state transitions of
//! checkout sessions and subscriptions.
//!
//! Nothing under `model` imports `worker`: these modules take values and the time as
//! arguments and return values, so they run natively under `cargo test`.

pub(crate) mod billing;
pub(crate) mod checkout;
pub(crate) mod customers;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod form;
pub(crate) mod html;
pub(crate) mod keys;
pub(crate) mod oauth;
pub(crate) mod params;
pub(crate) mod period;
pub(crate) mod portal;
pub(crate) mod prices;
pub(crate) mod products;
pub(crate) mod webhooks;

use serde_json::{Map, Value, json};

/// Where and when an object is made: its mode and the current time (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) now: i64,
    pub(crate) livemode: bool,
}

/// A condition on a list, on one field of the stored objects (a JSON path such as
/// `$.email`; paths are always literals of this crate, never caller text).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Filter {
    /// The field equals the value.
    Eq(&'static str, Value),
    /// The field is none of the values.
    NotIn(&'static str, Vec<&'static str>),
    /// The field (text) starts with the prefix.
    Prefix(&'static str, String),
}

/// Stripe's list object.
pub(crate) fn list(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "data": Value::Array(data), "has_more": has_more, "url": url })
}

/// Stripe's answer to a deletion.
pub(crate) fn deleted(id: &str, object: &str) -> Value {
    json!({ "id": id, "object": object, "deleted": true })
}

/// A field of a JSON object as text.
pub(crate) fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str)
}

/// A field of a JSON object as a whole number.
pub(crate) fn int(value: &Value, field: &str) -> Option<i64> {
    value.get(field).and_then(Value::as_i64)
}

/// A field of a JSON object as an object (empty when absent).
pub(crate) fn object(value: &Value, field: &str) -> Map<String, Value> {
    value
        .get(field)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Sets `field` on a JSON object (a no-op on anything else).
pub(crate) fn set(value: &mut Value, field: &str, to: Value) {
    if let Some(map) = value.as_object_mut() {
        map.insert(field.to_owned(), to);
    }
}

/// Whether `url` is an absolute `http://` or `https://` URL with a host.
pub(crate) fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

/// The origin (`scheme://host[:port]`) of an absolute URL.
pub(crate) fn origin_of(url: &str) -> &str {
    let Some(scheme_end) = url.find("://") else {
        return url;
    };
    let after = scheme_end + 3;
    match url[after..].find(['/', '?', '#']) {
        Some(at) => &url[..after + at],
        None => url,
    }
}

/// A simple email check: one `@` with text on both sides and a dot in the domain, no spaces.
pub(crate) fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !text.chars().any(char::is_whitespace)
                && text.len() <= 512
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_with_a_host_pass() {
        for good in [
            "http://127.0.0.1:8080/cb",
            "https://example.test",
            "https://example.test/x?y=1",
        ] {
            assert!(is_http_url(good), "{good}");
        }
        for bad in [
            "",
            "example.test",
            "ftp://example.test",
            "https://",
            "https:///path",
            "javascript:alert(1)",
            "https://a b.test",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn the_origin_is_scheme_host_and_port() {
        assert_eq!(
            origin_of("http://127.0.0.1:8791/v1/x?y"),
            "http://127.0.0.1:8791"
        );
        assert_eq!(origin_of("https://sandbox.test"), "https://sandbox.test");
        assert_eq!(origin_of("https://sandbox.test?x"), "https://sandbox.test");
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(is_email("ann@example.test"));
        for bad in [
            "",
            "ann",
            "@example.test",
            "ann@example",
            "ann@.test",
            "a n@x.test",
            "a@b@c.test",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn lists_and_deletions_have_stripe_shapes() {
        assert_eq!(
            list("/v1/customers", vec![json!({"id": "cus_1"})], true),
            json!({"object": "list", "data": [{"id": "cus_1"}], "has_more": true, "url": "/v1/customers"})
        );
        assert_eq!(
            deleted("we_1", "webhook_endpoint"),
            json!({"id": "we_1", "object": "webhook_endpoint", "deleted": true})
        );
    }
}
