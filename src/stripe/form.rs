//! Stripe's request bodies: `application/x-www-form-urlencoded` with bracketed nesting
//! (`metadata[tier]`, `line_items[0][price]`).

use std::fmt::Write as _;

/// An ordered list of form fields. Order is kept so a body is reproducible: Stripe compares
/// an idempotent retry's parameters with the first attempt's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// An empty form.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`; `key` may already carry brackets (`recurring[interval]`).
    #[must_use]
    pub fn field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((key.into(), value.into()));
        self
    }

    /// Adds an integer field (amounts in minor units, counts).
    #[must_use]
    pub fn int(self, key: impl Into<String>, value: i64) -> Self {
        self.field(key, value.to_string())
    }

    /// Adds a boolean field as Stripe spells it.
    #[must_use]
    pub fn flag(self, key: impl Into<String>, value: bool) -> Self {
        self.field(key, if value { "true" } else { "false" })
    }

    /// Adds the field only when there is a value.
    #[must_use]
    pub fn optional(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.field(key, value),
            None => self,
        }
    }

    /// Adds `parent[name]=value` for each pair (metadata maps).
    #[must_use]
    pub fn map<'a>(
        mut self,
        parent: &str,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        for (name, value) in pairs {
            self.fields
                .push((format!("{parent}[{name}]"), value.to_owned()));
        }
        self
    }

    /// Adds `parent[index][name]=value` for each item's pairs (line items, subscription items).
    #[must_use]
    pub fn list_of_maps<'a>(
        mut self,
        parent: &str,
        items: impl IntoIterator<Item = Vec<(&'a str, String)>>,
    ) -> Self {
        for (index, item) in items.into_iter().enumerate() {
            for (name, value) in item {
                self.fields
                    .push((format!("{parent}[{index}][{name}]"), value));
            }
        }
        self
    }

    /// Adds `parent[]=value` for each value (`images[]`, `expand[]`).
    #[must_use]
    pub fn list(
        mut self,
        parent: &str,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        for value in values {
            self.fields.push((format!("{parent}[]"), value.into()));
        }
        self
    }

    /// Whether no field was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in order.
    #[must_use]
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The encoded body (or query string).
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (index, (key, value)) in self.fields.iter().enumerate() {
            if index > 0 {
                out.push('&');
            }
            escape_into(&mut out, key);
            out.push('=');
            escape_into(&mut out, value);
        }
        out
    }
}

/// Percent-encodes everything but the unreserved set. Brackets are escaped too: Stripe
/// decodes them, and escaping keeps a `]` inside a value from reading as nesting.
fn escape_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_are_bracketed_and_escaped_in_insertion_order() {
        let form = Form::new()
            .field("mode", "subscription")
            .list_of_maps(
                "line_items",
                [vec![
                    ("price", "price_1".to_owned()),
                    ("quantity", "2".to_owned()),
                ]],
            )
            .map("metadata", [("tier", "pro")]);

        assert_eq!(
            form.encode(),
            "mode=subscription&line_items%5B0%5D%5Bprice%5D=price_1&line_items%5B0%5D%5Bquantity%5D=2&metadata%5Btier%5D=pro"
        );
    }

    #[test]
    fn values_with_reserved_characters_survive_encoding() {
        let form = Form::new().field(
            "success_url",
            "https://a.example/ok?s={CHECKOUT_SESSION_ID}&x=1 2",
        );

        assert_eq!(
            form.encode(),
            "success_url=https%3A%2F%2Fa.example%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D%26x%3D1%202"
        );
    }

    #[test]
    fn optional_fields_are_left_out_when_absent_and_lists_repeat_the_key() {
        let form = Form::new()
            .optional("description", None)
            .optional("nickname", Some("Pro"))
            .list("images", ["a", "b"]);

        assert_eq!(form.encode(), "nickname=Pro&images%5B%5D=a&images%5B%5D=b");
    }

    #[test]
    fn utf8_is_encoded_byte_by_byte() {
        assert_eq!(Form::new().field("name", "café").encode(), "name=caf%C3%A9");
    }
}
