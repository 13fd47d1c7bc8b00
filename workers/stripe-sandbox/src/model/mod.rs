//! The sandbox's pure rules: decoding and validating parameters, building Stripe objects in
//! the shapes of the pinned API version, period arithmetic, and the state transitions of
//! checkout sessions and subscriptions.
//!
//! Nothing under `model` imports `worker`: these modules take values and the time as
//! arguments and return values, so they run natively under `cargo test`.

pub(crate) mod billing;
pub(crate) mod charges;
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

/// An equality filter for each `(param, path)` whose parameter is given and not empty: the
/// id filters (`customer=`, `subscription=`, ...) that Stripe's list routes share.
///
/// # Errors
/// A parameter that is not a string.
pub(crate) fn id_filters(
    p: &mut params::Params,
    fields: &[(&str, &'static str)],
) -> Result<Vec<Filter>, error::StripeError> {
    let mut out = Vec::new();
    for (param, path) in fields {
        if let Some(value) = p.string(param)?.filter(|s| !s.is_empty()) {
            out.push(Filter::Eq(path, json!(value)));
        }
    }
    Ok(out)
}

/// Stripe's list object.
pub(crate) fn list(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "data": Value::Array(data), "has_more": has_more, "url": url })
}

/// Stripe's answer to a deletion.
pub(crate) fn deleted(id: &str, object: &str) -> Value {
    json!({ "id": id, "object": object, "deleted": true })
}

/// A page of an in-memory list (a session's line items) by the same rules as stored lists:
/// the items after `starting_after`, or the last ones before `ending_before`, at most
/// `limit`, and whether more follow in that direction.
///
/// # Errors
/// 404 when the cursor is not an item of the list.
pub(crate) fn page_of(
    items: &[Value],
    options: &params::ListOptions,
    noun: &str,
) -> Result<(Vec<Value>, bool), error::StripeError> {
    let position = |id: &str| items.iter().position(|item| text(item, "id") == Some(id));
    let limit = options.limit as usize;
    match (&options.starting_after, &options.ending_before) {
        (Some(after), _) => {
            let start = position(after)
                .map(|i| i + 1)
                .ok_or_else(|| error::StripeError::no_such(noun, after, "starting_after"))?;
            let rest = &items[start..];
            Ok((
                rest.iter().take(limit).cloned().collect(),
                rest.len() > limit,
            ))
        }
        (None, Some(before)) => {
            let end = position(before)
                .ok_or_else(|| error::StripeError::no_such(noun, before, "ending_before"))?;
            let skip = end.saturating_sub(limit);
            Ok((items[skip..end].to_vec(), skip > 0))
        }
        (None, None) => Ok((
            items.iter().take(limit).cloned().collect(),
            items.len() > limit,
        )),
    }
}

/// The fingerprint of a request for idempotency: hex SHA-256 over the method, the path and
/// the decoded parameters. Objects serialize with sorted keys, so the same parameters sent in
/// another order match.
pub(crate) fn fingerprint(method: &str, path: &str, params: &Map<String, Value>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b"\n");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(Value::Object(params.clone()).to_string().as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
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

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({ "id": format!("li_{i}") })).collect()
    }

    fn ids(page: &[Value]) -> Vec<&str> {
        page.iter().filter_map(|v| text(v, "id")).collect()
    }

    fn options(limit: u32, after: Option<&str>, before: Option<&str>) -> params::ListOptions {
        params::ListOptions {
            limit,
            starting_after: after.map(str::to_owned),
            ending_before: before.map(str::to_owned),
        }
    }

    #[test]
    fn in_memory_pages_follow_the_cursor_in_either_direction() {
        let all = items(5);

        let (first, more) = page_of(&all, &options(2, None, None), "line item").unwrap();
        let (next, more_after) =
            page_of(&all, &options(2, Some("li_1"), None), "line item").unwrap();
        let (last, more_after_last) =
            page_of(&all, &options(2, Some("li_2"), None), "line item").unwrap();
        let (before, more_before) =
            page_of(&all, &options(2, None, Some("li_3")), "line item").unwrap();
        let (start, nothing_before) =
            page_of(&all, &options(2, None, Some("li_1")), "line item").unwrap();

        assert_eq!((ids(&first), more), (vec!["li_0", "li_1"], true));
        assert_eq!((ids(&next), more_after), (vec!["li_2", "li_3"], true));
        assert_eq!((ids(&last), more_after_last), (vec!["li_3", "li_4"], false));
        assert_eq!((ids(&before), more_before), (vec!["li_1", "li_2"], true));
        assert_eq!((ids(&start), nothing_before), (vec!["li_0"], false));
    }

    #[test]
    fn an_unknown_cursor_is_a_missing_resource() {
        let error = page_of(&items(2), &options(2, Some("li_9"), None), "line item").unwrap_err();

        assert_eq!(error.status, 404);
        assert_eq!(error.param.as_deref(), Some("starting_after"));
    }

    #[test]
    fn fingerprints_ignore_parameter_order_but_not_values_paths_or_methods() {
        let a = json!({"name": "x", "metadata": {"a": "1", "b": "2"}})
            .as_object()
            .cloned()
            .unwrap();
        let reordered = json!({"metadata": {"b": "2", "a": "1"}, "name": "x"})
            .as_object()
            .cloned()
            .unwrap();
        let other = json!({"name": "y", "metadata": {"a": "1", "b": "2"}})
            .as_object()
            .cloned()
            .unwrap();

        let print = fingerprint("POST", "/v1/customers", &a);

        assert_eq!(print, fingerprint("POST", "/v1/customers", &reordered));
        assert_ne!(print, fingerprint("POST", "/v1/customers", &other));
        assert_ne!(print, fingerprint("POST", "/v1/products", &a));
        assert_ne!(print, fingerprint("GET", "/v1/customers", &a));
        assert_eq!(print.len(), 64);
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
