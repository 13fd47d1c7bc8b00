//! Stripe's form encoding decoded into JSON: `line_items[0][price]=x` pairs become nested
//! objects and arrays whose leaves are strings. Requests keep every value as text here; the
//! parameter reader ([`super::params`]) gives each one its type.
//!
//! Brackets with an index (`a[0]`) or empty brackets (`a[]`, appended in order) make arrays;
//! any other name makes an object. A name used both as a value and as a container is refused,
//! because either reading would drop what the caller sent.

use serde_json::{Map, Value};

/// A body or query string that cannot be read as nested parameters.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FormError(pub(crate) String);

#[derive(Debug)]
enum Node {
    Leaf(String),
    Branch(Vec<(String, Self)>),
}

/// Splits `a[b][]` into `a` and the segments `["b", ""]`.
fn segments(key: &str) -> Result<(String, Vec<String>), FormError> {
    let malformed = || FormError(format!("Invalid parameter name: {key}"));
    let (name, mut rest) = match key.find('[') {
        Some(at) => (&key[..at], &key[at..]),
        None => (key, ""),
    };
    if name.is_empty() {
        return Err(malformed());
    }
    let mut parts = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(malformed)?;
        let close = inner.find(']').ok_or_else(malformed)?;
        let part = &inner[..close];
        if part.contains('[') {
            return Err(malformed());
        }
        parts.push(part.to_owned());
        rest = &inner[close + 1..];
    }
    Ok((name.to_owned(), parts))
}

fn insert(
    branch: &mut Vec<(String, Node)>,
    path: &[String],
    value: String,
    key: &str,
) -> Result<(), FormError> {
    let conflict = || FormError(format!("Invalid parameter: {key} conflicts with another"));
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    // `[]` appends: its index is the number of entries so far.
    let name = if first.is_empty() {
        branch.len().to_string()
    } else {
        first.clone()
    };
    let position = branch.iter().position(|(k, _)| *k == name);
    if rest.is_empty() {
        match position {
            Some(at) if matches!(branch[at].1, Node::Branch(_)) => return Err(conflict()),
            // A repeated plain name: the last value wins, as in most form decoders.
            Some(at) => branch[at].1 = Node::Leaf(value),
            None => branch.push((name, Node::Leaf(value))),
        }
        return Ok(());
    }
    let at = match position {
        Some(at) => at,
        None => {
            branch.push((name, Node::Branch(Vec::new())));
            branch.len() - 1
        }
    };
    match &mut branch[at].1 {
        Node::Branch(children) => insert(children, rest, value, key),
        Node::Leaf(_) => Err(conflict()),
    }
}

fn finish(node: Node) -> Value {
    match node {
        Node::Leaf(text) => Value::String(text),
        Node::Branch(entries) => {
            let indexed =
                !entries.is_empty() && entries.iter().all(|(k, _)| k.parse::<usize>().is_ok());
            if indexed {
                // Every key parsed above, so nothing is filtered out here.
                let mut items: Vec<(usize, Node)> = entries
                    .into_iter()
                    .filter_map(|(k, n)| k.parse::<usize>().ok().map(|index| (index, n)))
                    .collect();
                items.sort_by_key(|(index, _)| *index);
                Value::Array(items.into_iter().map(|(_, n)| finish(n)).collect())
            } else {
                Value::Object(entries.into_iter().map(|(k, n)| (k, finish(n))).collect())
            }
        }
    }
}

/// Decodes already percent-decoded pairs into one object of parameters.
///
/// # Errors
/// A malformed name (`a[b`, `[x]`) or a name used both as a value and as a container.
pub(crate) fn decode(pairs: &[(String, String)]) -> Result<Map<String, Value>, FormError> {
    let mut root = Vec::new();
    for (key, value) in pairs {
        let (name, parts) = segments(key)?;
        let mut path = Vec::with_capacity(parts.len() + 1);
        path.push(name);
        path.extend(parts);
        insert(&mut root, &path, value.clone(), key)?;
    }
    Ok(root.into_iter().map(|(k, n)| (k, finish(n))).collect())
}

/// JSON bodies (the test controls accept them) in the same shape as decoded forms: every
/// scalar becomes its text, `null` the empty string that unsets a value.
pub(crate) fn from_json(value: Value) -> Value {
    match value {
        Value::Null => Value::String(String::new()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => Value::String(s),
        Value::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, from_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(text: &str) -> Result<Value, FormError> {
        decode(&tollgate::form_pairs(text)).map(Value::Object)
    }

    #[test]
    fn flat_pairs_become_string_fields() {
        assert_eq!(
            form("email=a%40b.test&name=Ann+Lee"),
            Ok(json!({"email": "a@b.test", "name": "Ann Lee"}))
        );
    }

    #[test]
    fn bracketed_names_nest_into_objects() {
        assert_eq!(
            form("metadata[plan]=pro&metadata[seats]=3&recurring[interval]=month"),
            Ok(
                json!({"metadata": {"plan": "pro", "seats": "3"}, "recurring": {"interval": "month"}})
            )
        );
    }

    #[test]
    fn indexed_names_become_arrays_in_index_order() {
        assert_eq!(
            form("line_items[1][price]=b&line_items[0][price]=a&line_items[0][quantity]=2"),
            Ok(json!({"line_items": [{"price": "a", "quantity": "2"}, {"price": "b"}]}))
        );
    }

    #[test]
    fn empty_brackets_append_in_order() {
        assert_eq!(
            form("expand[]=line_items&expand[]=customer&images[0]=x"),
            Ok(json!({"expand": ["line_items", "customer"], "images": ["x"]}))
        );
    }

    #[test]
    fn encoded_brackets_decode_like_literal_ones() {
        assert_eq!(
            form("enabled_events%5B0%5D=%2A"),
            Ok(json!({"enabled_events": ["*"]}))
        );
    }

    #[test]
    fn an_empty_value_is_kept_so_callers_can_unset_fields() {
        assert_eq!(
            form("description=&metadata="),
            Ok(json!({"description": "", "metadata": ""}))
        );
    }

    #[test]
    fn a_repeated_plain_name_keeps_the_last_value() {
        assert_eq!(form("name=a&name=b"), Ok(json!({"name": "b"})));
    }

    #[test]
    fn malformed_or_conflicting_names_are_refused() {
        for bad in [
            "a[b=1",
            "[a]=1",
            "a[b]c=1",
            "a[[b]]=1",
            "a=1&a[b]=2",
            "a[b]=2&a=1",
            "a[0]=x&a[0][b]=y",
        ] {
            assert!(form(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn json_bodies_take_the_shape_of_decoded_forms() {
        let value = from_json(
            json!({"count": 2, "on": true, "gone": null, "list": [1, "x"], "o": {"n": 1.5}}),
        );

        assert_eq!(
            value,
            json!({"count": "2", "on": "true", "gone": "", "list": ["1", "x"], "o": {"n": "1.5"}})
        );
    }
}
