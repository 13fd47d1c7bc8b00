//! Request ids: echo a caller's well-formed `X-Request-Id`, otherwise mint `req_…`.
//!
//! An incoming id ends up in logs and in response headers, so only a short, printable,
//! header-safe alphabet is accepted; anything else is replaced rather than sanitised.

use crate::ids;
use std::fmt;

/// A request id safe to log and to send back in a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The longest incoming id that is echoed.
    pub const MAX_LEN: usize = 128;

    /// Accepts 1–128 characters from `A–Z a–z 0–9 . _ : -` (UUIDs, ULIDs, trace ids).
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        well_formed.then(|| Self(raw.to_owned()))
    }

    /// A fresh `req_…` id.
    #[must_use]
    pub fn generate() -> Self {
        Self(ids::new_id("req"))
    }

    /// The caller's id when it is well formed, otherwise a fresh one.
    #[must_use]
    pub fn from_incoming(raw: Option<&str>) -> Self {
        raw.and_then(Self::parse).unwrap_or_else(Self::generate)
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_incoming_id_is_echoed() {
        for good in [
            "abc",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "trace:1.2_3",
            &"a".repeat(128),
        ] {
            assert_eq!(RequestId::from_incoming(Some(good)).as_str(), good);
        }
    }

    #[test]
    fn a_malformed_incoming_id_is_replaced_by_a_fresh_one() {
        let too_long = "a".repeat(129);
        for bad in [
            "",
            " ",
            "a b",
            "<script>",
            "id\r\nX-Evil: 1",
            "ünïcode",
            too_long.as_str(),
        ] {
            let id = RequestId::from_incoming(Some(bad));
            assert_ne!(id.as_str(), bad, "{bad:?} must not be echoed");
            assert!(id.as_str().starts_with("req_"));
        }
    }

    #[test]
    fn a_missing_incoming_id_gets_a_fresh_one() {
        let id = RequestId::from_incoming(None);
        assert_eq!(id.as_str().len(), "req_".len() + ids::BASE62_U128_LEN);
        assert!(
            RequestId::parse(id.as_str()).is_some(),
            "generated ids are themselves valid"
        );
    }
}
