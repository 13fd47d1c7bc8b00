//! Idempotency keys: what a valid `Idempotency-Key` is, how a request is fingerprinted, and
//! how long records and revealed secrets live.

use sha2::{Digest, Sha256};

/// How long a key is remembered (24 h).
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a claim holds its key while its request has not answered (2 min). A request
/// that dies mid-flight (an evicted isolate, a restarted runtime) never releases its claim;
/// after the lease a retry takes the key over instead of getting 409 for a day. Longer than
/// any request lives: the Stripe client gives up after its attempts' 10 s timeouts.
pub const CLAIM_LEASE_MS: i64 = 2 * 60 * 1000;

/// How long a replay may show a secret the original response revealed (10 min).
pub const SECRET_REPLAY_MS: i64 = 10 * 60 * 1000;

/// A caller's `Idempotency-Key`: 1–255 printable ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header value.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(raw.to_owned()))
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fingerprint of a request: hex SHA-256 over method, path and body, so the same key with
/// a different request is recognised.
#[must_use]
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(method)
        .chain_update([0])
        .chain_update(path)
        .chain_update([0])
        .chain_update(body)
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("create-project-42").is_some());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_some());
        for bad in ["", "has space", "tab\t", "ünï", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_fingerprint_changes_with_method_path_or_body() {
        let base = fingerprint("POST", "/v1/projects", b"{\"name\":\"a\"}");
        assert_eq!(
            base,
            fingerprint("POST", "/v1/projects", b"{\"name\":\"a\"}")
        );
        assert_ne!(
            base,
            fingerprint("PUT", "/v1/projects", b"{\"name\":\"a\"}")
        );
        assert_ne!(
            base,
            fingerprint("POST", "/v1/projects/x", b"{\"name\":\"a\"}")
        );
        assert_ne!(
            base,
            fingerprint("POST", "/v1/projects", b"{\"name\":\"b\"}")
        );
        assert_ne!(
            fingerprint("POST", "/ab", b"c"),
            fingerprint("POST", "/a", b"bc"),
            "fields are separated"
        );
    }
}
