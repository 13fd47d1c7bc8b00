//! The parameter reader: takes typed values out of decoded parameters one name at a time and
//! refuses whatever is left, so a misspelt or unsupported parameter is a 400
//! `parameter_unknown` ("Received unknown parameter: x") instead of a silently ignored setting.
//!
//! Nested readers ([`Params::object`], [`Params::list`]) finish themselves, so an unknown
//! `recurring[foo]` or `line_items[0][foo]` is reported with its full name.

use super::error::StripeError;
use serde_json::{Map, Value};

/// Stripe's metadata limits.
const METADATA_KEYS: usize = 50;
const METADATA_KEY_CHARS: usize = 40;
const METADATA_VALUE_CHARS: usize = 500;

/// Decoded parameters being read.
#[derive(Debug)]
pub(crate) struct Params {
    prefix: String,
    map: Map<String, Value>,
}

/// A change to metadata: Stripe merges keys, unsets a key sent empty, and clears everything
/// when `metadata` itself is sent empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MetadataPatch {
    /// `metadata=`: remove every key.
    Clear,
    /// Set (`Some`) or unset (`None`) these keys.
    Merge(Vec<(String, Option<String>)>),
}

impl MetadataPatch {
    /// `existing` with the patch applied.
    pub(crate) fn apply(&self, existing: &Map<String, Value>) -> Map<String, Value> {
        match self {
            Self::Clear => Map::new(),
            Self::Merge(changes) => {
                let mut out = existing.clone();
                for (key, value) in changes {
                    match value {
                        Some(v) => {
                            out.insert(key.clone(), Value::String(v.clone()));
                        }
                        None => {
                            out.remove(key);
                        }
                    }
                }
                out
            }
        }
    }

    /// The metadata of a new object.
    pub(crate) fn fresh(patch: Option<&Self>) -> Map<String, Value> {
        patch.map_or_else(Map::new, |p| p.apply(&Map::new()))
    }
}

/// Paging of list routes: `limit` (1–100, default 10), `starting_after`, `ending_before`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListOptions {
    pub(crate) limit: u32,
    pub(crate) starting_after: Option<String>,
    pub(crate) ending_before: Option<String>,
}

impl Params {
    /// A reader over top-level parameters.
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self {
            prefix: String::new(),
            map,
        }
    }

    /// The name Stripe reports for `key` here (`line_items[0][price]`).
    pub(crate) fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}[{key}]", self.prefix)
        }
    }

    /// A text value; `None` when absent. An empty value is returned as sent.
    ///
    /// # Errors
    /// When the value is an object or a list.
    pub(crate) fn string(&mut self, key: &str) -> Result<Option<String>, StripeError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(StripeError::invalid_value(
                &self.name(key),
                "parameter_invalid_string",
                format!("Invalid string: {} must be a string", self.name(key)),
            )),
        }
    }

    /// A text value that may be unset: absent → `None` (keep), empty → `Some(None)` (unset).
    ///
    /// # Errors
    /// As [`Self::string`].
    pub(crate) fn nullable_string(
        &mut self,
        key: &str,
    ) -> Result<Option<Option<String>>, StripeError> {
        Ok(self
            .string(key)?
            .map(|text| if text.is_empty() { None } else { Some(text) }))
    }

    /// A text value that must be sent and non-empty.
    ///
    /// # Errors
    /// 400 `parameter_missing`, or as [`Self::string`].
    pub(crate) fn required_string(&mut self, key: &str) -> Result<String, StripeError> {
        match self.string(key)? {
            Some(text) if !text.is_empty() => Ok(text),
            _ => Err(StripeError::missing_parameter(&self.name(key))),
        }
    }

    /// A whole number; an empty value counts as absent.
    ///
    /// # Errors
    /// 400 `parameter_invalid_integer`.
    pub(crate) fn integer(&mut self, key: &str) -> Result<Option<i64>, StripeError> {
        let name = self.name(key);
        match self.string(key)? {
            None => Ok(None),
            Some(text) if text.is_empty() => Ok(None),
            Some(text) => text.parse::<i64>().map(Some).map_err(|_| {
                StripeError::invalid_value(
                    &name,
                    "parameter_invalid_integer",
                    format!("Invalid integer: {text}"),
                )
            }),
        }
    }

    /// `true` or `false`; an empty value counts as absent.
    ///
    /// # Errors
    /// 400 for any other text.
    pub(crate) fn boolean(&mut self, key: &str) -> Result<Option<bool>, StripeError> {
        let name = self.name(key);
        match self.string(key)?.as_deref() {
            None | Some("") => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(StripeError::invalid_value(
                &name,
                "parameter_invalid_boolean",
                format!("Invalid boolean: {other}"),
            )),
        }
    }

    /// One of `allowed`; an empty value counts as absent.
    ///
    /// # Errors
    /// 400 naming the allowed values.
    pub(crate) fn one_of(
        &mut self,
        key: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, StripeError> {
        let name = self.name(key);
        match self.string(key)? {
            None => Ok(None),
            Some(text) if text.is_empty() => Ok(None),
            Some(text) => allowed
                .iter()
                .find(|a| **a == text)
                .copied()
                .map(Some)
                .ok_or_else(|| {
                    StripeError::invalid(format!(
                        "Invalid {name}: must be one of {}",
                        allowed.join(", ")
                    ))
                    .with_param(&name)
                }),
        }
    }

    /// A list of texts (`images[]`); an empty value is the empty list.
    ///
    /// # Errors
    /// When the value is not a list of texts.
    pub(crate) fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, StripeError> {
        let name = self.name(key);
        let invalid = || {
            StripeError::invalid(format!("Invalid array: {name} must be a list of strings"))
                .with_param(&name)
        };
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(Some(Vec::new())),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    _ => Err(invalid()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid()),
        }
    }

    /// A nested object read by `read`, which must consume all of it. An empty value counts
    /// as absent.
    ///
    /// # Errors
    /// When the value is not an object, and whatever `read` or the leftover check finds.
    pub(crate) fn object<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(&mut Self) -> Result<T, StripeError>,
    ) -> Result<Option<T>, StripeError> {
        let name = self.name(key);
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::Object(map)) => {
                let mut inner = Self { prefix: name, map };
                let value = read(&mut inner)?;
                inner.finish()?;
                Ok(Some(value))
            }
            Some(_) => Err(StripeError::invalid(format!(
                "Invalid object: {name} must be a hash of parameters"
            ))
            .with_param(&name)),
        }
    }

    /// A list of nested objects, each read by `read` (given its index), which must consume
    /// each one.
    ///
    /// # Errors
    /// When the value is not a list of objects, and whatever `read` or the leftover checks find.
    pub(crate) fn list<T>(
        &mut self,
        key: &str,
        mut read: impl FnMut(&mut Self, usize) -> Result<T, StripeError>,
    ) -> Result<Option<Vec<T>>, StripeError> {
        let name = self.name(key);
        let invalid = || {
            StripeError::invalid(format!("Invalid array: {name} must be a list of hashes"))
                .with_param(&name)
        };
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (index, item) in items.into_iter().enumerate() {
                    let Value::Object(map) = item else {
                        return Err(invalid());
                    };
                    let mut inner = Self {
                        prefix: format!("{name}[{index}]"),
                        map,
                    };
                    out.push(read(&mut inner, index)?);
                    inner.finish()?;
                }
                Ok(Some(out))
            }
            Some(_) => Err(invalid()),
        }
    }

    /// `metadata`: at most 50 keys of at most 40 characters, values of at most 500.
    ///
    /// # Errors
    /// 400 for a value that is not a hash of texts or breaks a limit.
    pub(crate) fn metadata(&mut self, key: &str) -> Result<Option<MetadataPatch>, StripeError> {
        let name = self.name(key);
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(Some(MetadataPatch::Clear)),
            Some(Value::Object(map)) => {
                if map.len() > METADATA_KEYS {
                    return Err(StripeError::invalid(format!(
                        "Invalid {name}: at most {METADATA_KEYS} keys are allowed"
                    ))
                    .with_param(&name));
                }
                let mut changes = Vec::with_capacity(map.len());
                for (k, v) in map {
                    let field = format!("{name}[{k}]");
                    let Value::String(text) = v else {
                        return Err(StripeError::invalid(format!(
                            "Invalid {field}: metadata values must be strings"
                        ))
                        .with_param(&field));
                    };
                    if k.chars().count() > METADATA_KEY_CHARS {
                        return Err(StripeError::invalid(format!(
                            "Metadata keys can have at most {METADATA_KEY_CHARS} characters: {k}"
                        ))
                        .with_param(&field));
                    }
                    if text.chars().count() > METADATA_VALUE_CHARS {
                        return Err(StripeError::invalid(format!(
                            "Metadata values can have at most {METADATA_VALUE_CHARS} characters: {field}"
                        ))
                        .with_param(&field));
                    }
                    changes.push((k, (!text.is_empty()).then_some(text)));
                }
                Ok(Some(MetadataPatch::Merge(changes)))
            }
            Some(_) => Err(StripeError::invalid(format!(
                "Invalid {name}: metadata must be a hash of strings"
            ))
            .with_param(&name)),
        }
    }

    /// `expand[]`, which every route takes.
    ///
    /// # Errors
    /// When it is not a list of texts.
    pub(crate) fn expand(&mut self) -> Result<Vec<String>, StripeError> {
        Ok(self.strings("expand")?.unwrap_or_default())
    }

    /// The paging parameters of a list route.
    ///
    /// # Errors
    /// 400 for a limit outside 1–100.
    pub(crate) fn list_options(&mut self) -> Result<ListOptions, StripeError> {
        let limit = match self.integer("limit")? {
            None => 10,
            Some(n @ 1..=100) => u32::try_from(n).unwrap_or(10),
            Some(_) => {
                return Err(StripeError::invalid_value(
                    "limit",
                    "parameter_invalid_integer",
                    "Invalid limit: must be between 1 and 100",
                ));
            }
        };
        let starting_after = self.string("starting_after")?.filter(|s| !s.is_empty());
        let ending_before = self.string("ending_before")?.filter(|s| !s.is_empty());
        if starting_after.is_some() && ending_before.is_some() {
            return Err(StripeError::invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
            ));
        }
        Ok(ListOptions {
            limit,
            starting_after,
            ending_before,
        })
    }

    /// A reader over a JSON object, for tests.
    #[cfg(test)]
    pub(crate) fn of(value: Value) -> Self {
        match value {
            Value::Object(map) => Self::new(map),
            _ => Self::new(Map::new()),
        }
    }

    /// Refuses whatever was sent but not read.
    ///
    /// # Errors
    /// 400 `parameter_unknown` naming the first such parameter.
    pub(crate) fn finish(self) -> Result<(), StripeError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(StripeError::unknown_parameter(&self.name(key))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Params {
        match value {
            Value::Object(map) => Params::new(map),
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn everything_read_leaves_nothing_to_refuse() {
        let mut p = params(json!({"name": "Pro", "active": "false", "unit_amount": "1900"}));

        assert_eq!(p.string("name"), Ok(Some("Pro".into())));
        assert_eq!(p.boolean("active"), Ok(Some(false)));
        assert_eq!(p.integer("unit_amount"), Ok(Some(1900)));
        assert_eq!(p.finish(), Ok(()));
    }

    #[test]
    fn a_parameter_nobody_read_is_refused_by_name() {
        let mut p = params(json!({"name": "Pro", "colour": "red"}));
        p.string("name").unwrap();

        let error = p.finish().unwrap_err();

        assert_eq!(error.message, "Received unknown parameter: colour");
        assert_eq!(error.code.as_deref(), Some("parameter_unknown"));
    }

    #[test]
    fn unknown_nested_parameters_are_reported_with_their_full_name() {
        let mut p = params(json!({"recurring": {"interval": "month", "every": "2"}}));

        let error = p.object("recurring", |r| r.string("interval")).unwrap_err();

        assert_eq!(error.param.as_deref(), Some("recurring[every]"));
        let mut p = params(json!({"line_items": [{"price": "p"}, {"price": "q", "qty": "1"}]}));
        let error = p
            .list("line_items", |item, _| item.string("price"))
            .unwrap_err();
        assert_eq!(
            error.message,
            "Received unknown parameter: line_items[1][qty]"
        );
    }

    #[test]
    fn a_missing_required_parameter_is_named() {
        let mut p = params(json!({"currency": ""}));

        assert_eq!(
            p.required_string("product").unwrap_err().message,
            "Missing required param: product."
        );
        assert_eq!(
            p.required_string("currency").unwrap_err().param.as_deref(),
            Some("currency")
        );
    }

    #[test]
    fn values_of_the_wrong_kind_are_refused_with_stripe_codes() {
        let mut p = params(json!({"n": "12x", "b": "yes", "s": {"a": "1"}, "e": "weekly"}));

        assert_eq!(
            p.integer("n").unwrap_err().code.as_deref(),
            Some("parameter_invalid_integer")
        );
        assert_eq!(p.boolean("b").unwrap_err().message, "Invalid boolean: yes");
        assert!(p.string("s").is_err());
        assert_eq!(
            p.one_of("e", &["month", "year"]).unwrap_err().message,
            "Invalid e: must be one of month, year"
        );
    }

    #[test]
    fn an_empty_value_unsets_a_nullable_text() {
        let mut p = params(json!({"description": "", "name": "x"}));

        assert_eq!(p.nullable_string("description"), Ok(Some(None)));
        assert_eq!(p.nullable_string("name"), Ok(Some(Some("x".into()))));
        assert_eq!(p.nullable_string("absent"), Ok(None));
    }

    #[test]
    fn metadata_merges_unsets_empty_keys_and_clears_on_empty() {
        let existing = json!({"a": "1", "b": "2"}).as_object().cloned().unwrap();
        let mut p = params(json!({"metadata": {"b": "", "c": "3"}, "other": ""}));

        let patch = p.metadata("metadata").unwrap().unwrap();
        let cleared = p.metadata("other").unwrap().unwrap();

        assert_eq!(
            Value::Object(patch.apply(&existing)),
            json!({"a": "1", "c": "3"})
        );
        assert_eq!(cleared, MetadataPatch::Clear);
        assert!(cleared.apply(&existing).is_empty());
    }

    #[test]
    fn metadata_limits_are_enforced() {
        let long_key = "k".repeat(41);
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        let cases = [
            json!({ "metadata": { long_key: "v" } }),
            json!({"metadata": {"k": "v".repeat(501)}}),
            json!({"metadata": many}),
            json!({"metadata": {"k": {"nested": "v"}}}),
            json!({"metadata": "not-a-hash"}),
        ];
        for case in cases {
            let mut p = params(case.clone());
            assert!(p.metadata("metadata").is_err(), "{case}");
        }
    }

    #[test]
    fn lists_of_texts_accept_the_empty_value_as_an_empty_list() {
        let mut p = params(json!({"images": "", "expand": ["line_items"]}));

        assert_eq!(p.strings("images"), Ok(Some(vec![])));
        assert_eq!(p.expand(), Ok(vec!["line_items".to_owned()]));
    }

    #[test]
    fn list_paging_defaults_to_ten_and_refuses_out_of_range_limits() {
        let mut defaults = params(json!({}));
        assert_eq!(
            defaults.list_options(),
            Ok(ListOptions {
                limit: 10,
                starting_after: None,
                ending_before: None
            })
        );
        for bad in ["0", "101", "-1"] {
            let mut p = params(json!({ "limit": bad }));
            assert!(p.list_options().is_err(), "{bad}");
        }
        let mut both = params(json!({"starting_after": "a", "ending_before": "b"}));
        assert!(both.list_options().is_err());
    }
}
