//! API keys: their format, checksum, display form and keyed hash.
//!
//! A key reads `pk_|sk_` + `test_|live_` + 22 base62 characters of randomness (128 bits) + a
//! 6-character checksum. The checksum lets every worker refuse a mistyped or made-up key
//! before any storage I/O. Secret keys are stored only as HMAC-SHA256 under a server-side
//! pepper, so a leaked table does not yield usable keys.

use crate::ids::{self, BASE62_U128_LEN};
use crate::project::Mode;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// A secret key's state (`api_keys.status`), parsed where the row is read. A rotated key
/// still works until its grace period ends; a revoked one never again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// In use, with no end.
    Active,
    /// Replaced, working until its `expires_at`.
    Rotated,
    /// Refused from now on.
    Revoked,
}

impl KeyStatus {
    /// Until when (ms) a key in this status authenticates: an active key has no end; a
    /// rotated one ends with its grace period (`expires_at`; one without it has ended); a
    /// revoked one has ended.
    #[must_use]
    pub const fn works_until(self, expires_at: Option<i64>) -> Option<i64> {
        match (self, expires_at) {
            (Self::Active, _) => None,
            (Self::Rotated, Some(end)) => Some(end),
            (Self::Rotated, None) | (Self::Revoked, _) => Some(0),
        }
    }

    /// Whether a key in this status authenticates at `now` (ms).
    #[must_use]
    pub fn works_at(self, expires_at: Option<i64>, now: i64) -> bool {
        self.works_until(expires_at).is_none_or(|end| now < end)
    }

    /// Whether revoking the key changes anything: a revoked key stays as it is, so a repeated
    /// revoke answers the same and writes nothing.
    #[must_use]
    pub const fn may_revoke(self) -> bool {
        !matches!(self, Self::Revoked)
    }
}

/// What a rotation does to the key in force: a new key is always minted, and the project's
/// active key (at most one) keeps working for the grace period, then ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retirement<'a> {
    /// The key retired.
    pub key_id: &'a str,
    /// When it stops working (ms).
    pub until: i64,
}

/// The retirement a rotation at `now` (ms) with `grace_seconds` makes of `keys` (id and
/// status), if one of them is active.
#[must_use]
pub fn retirement<'a>(
    keys: impl IntoIterator<Item = (&'a str, KeyStatus)>,
    grace_seconds: i64,
    now: i64,
) -> Option<Retirement<'a>> {
    keys.into_iter()
        .find(|(_, status)| *status == KeyStatus::Active)
        .map(|(key_id, _)| Retirement {
            key_id,
            until: now.saturating_add(grace_seconds.saturating_mul(1000)),
        })
}

/// Characters of checksum at the end of every key (62^6 > 2^32).
const CHECKSUM_LEN: usize = 6;

/// Publishable (public, browser-safe) or secret (server-only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `pk_…`
    Publishable,
    /// `sk_…`
    Secret,
}

impl KeyKind {
    fn tag(self) -> &'static str {
        match self {
            Self::Publishable => "pk",
            Self::Secret => "sk",
        }
    }
}

/// Why text is not a key. Callers answer all of these the same way (401); the variants exist
/// for tests and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not `pk_`/`sk_` + `test_`/`live_`.
    Prefix,
    /// Wrong length or characters outside base62.
    Shape,
    /// The checksum does not match: mistyped, truncated or invented.
    Checksum,
}

/// A well-formed key (checksum verified). Its `Debug` form never shows the secret part.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey {
    kind: KeyKind,
    mode: Mode,
    text: String,
}

impl ApiKey {
    /// The length of every key: `xx_mode_` + body + checksum.
    pub const LEN: usize = 8 + BASE62_U128_LEN + CHECKSUM_LEN;

    /// A new random key.
    #[must_use]
    pub fn generate(kind: KeyKind, mode: Mode) -> Self {
        Self::from_random(kind, mode, ids::random_u128())
    }

    /// The key for a given random value; [`ApiKey::generate`] with the randomness passed in.
    #[must_use]
    pub fn from_random(kind: KeyKind, mode: Mode, value: u128) -> Self {
        let prefix = prefix(kind, mode);
        let body = ids::base62_u128(value);
        let text = format!("{prefix}{body}{}", checksum(&prefix, &body));
        Self { kind, mode, text }
    }

    /// Parses and checksums a key without any I/O.
    ///
    /// # Errors
    /// [`KeyError`] saying which check failed.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (kind, rest) = match text.get(..3) {
            Some("pk_") => (KeyKind::Publishable, &text[3..]),
            Some("sk_") => (KeyKind::Secret, &text[3..]),
            _ => return Err(KeyError::Prefix),
        };
        let mode = match rest.get(..5) {
            Some("test_") => Mode::Test,
            Some("live_") => Mode::Live,
            _ => return Err(KeyError::Prefix),
        };
        if text.len() != Self::LEN || !ids::is_base62(&text[8..]) {
            return Err(KeyError::Shape);
        }
        let (body, sum) = text[8..].split_at(BASE62_U128_LEN);
        if checksum(&text[..8], body) != sum {
            return Err(KeyError::Checksum);
        }
        Ok(Self {
            kind,
            mode,
            text: text.to_owned(),
        })
    }

    /// Publishable or secret.
    #[must_use]
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Test or live.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The whole key. For a secret key, only for its single reveal and for hashing.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// `sk_test_` / `pk_live_` …
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.text[..8]
    }

    /// The last four characters, for display.
    #[must_use]
    pub fn last4(&self) -> &str {
        &self.text[Self::LEN - 4..]
    }

    /// The keyed hash stored for a secret key: hex HMAC-SHA256(pepper, key).
    #[must_use]
    pub fn hash(&self, pepper: &Pepper) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&pepper.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(self.text.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…{})", self.prefix(), self.last4())
    }
}

/// The server-side secret mixed into every stored key hash. `Debug` never shows it.
#[derive(Clone)]
pub struct Pepper(Vec<u8>);

impl Pepper {
    /// The shortest pepper accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// Accepts a pepper of at least [`Pepper::MIN_LEN`] bytes.
    #[must_use]
    pub fn new(secret: &str) -> Option<Self> {
        (secret.len() >= Self::MIN_LEN).then(|| Self(secret.as_bytes().to_vec()))
    }

    /// The pepper's bytes, for keyed derivations inside the core.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(…)")
    }
}

fn prefix(kind: KeyKind, mode: Mode) -> String {
    format!("{}_{}_", kind.tag(), mode.as_str())
}

fn checksum(prefix: &str, body: &str) -> String {
    let digest = Sha256::new()
        .chain_update(prefix)
        .chain_update(body)
        .finalize();
    let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    ids::base62_fixed(u128::from(first), CHECKSUM_LEN)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> Pepper {
        Pepper::new("a-development-pepper-of-32-bytes!").unwrap()
    }

    #[test]
    fn a_key_status_parses_only_from_the_schemas_words() {
        for (word, status) in [
            ("active", KeyStatus::Active),
            ("rotated", KeyStatus::Rotated),
            ("revoked", KeyStatus::Revoked),
        ] {
            assert_eq!(
                serde_json::from_value::<KeyStatus>(serde_json::json!(word)).ok(),
                Some(status)
            );
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::json!(word))
            );
        }
        for bad in ["", "Active", "expired"] {
            assert!(
                serde_json::from_value::<KeyStatus>(serde_json::json!(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_generated_key_parses_back_to_the_same_kind_and_mode() {
        for kind in [KeyKind::Publishable, KeyKind::Secret] {
            for mode in [Mode::Test, Mode::Live] {
                let key = ApiKey::generate(kind, mode);
                let parsed = ApiKey::parse(key.expose()).unwrap();
                assert_eq!((parsed.kind(), parsed.mode()), (kind, mode));
                assert_eq!(key.expose().len(), ApiKey::LEN);
            }
        }
    }

    #[test]
    fn keys_carry_their_kind_and_mode_in_the_prefix() {
        assert!(
            ApiKey::from_random(KeyKind::Secret, Mode::Live, 7)
                .expose()
                .starts_with("sk_live_")
        );
        assert!(
            ApiKey::from_random(KeyKind::Publishable, Mode::Test, 7)
                .expose()
                .starts_with("pk_test_")
        );
    }

    #[test]
    fn malformed_keys_are_refused_without_storage() {
        let good = ApiKey::from_random(KeyKind::Secret, Mode::Test, 123_456_789)
            .expose()
            .to_owned();
        let flipped = {
            let mut chars: Vec<char> = good.chars().collect();
            chars[12] = if chars[12] == 'a' { 'b' } else { 'a' };
            chars.into_iter().collect::<String>()
        };
        let cases = [
            ("", KeyError::Prefix),
            ("sk_", KeyError::Prefix),
            ("xk_test_abc", KeyError::Prefix),
            ("sk_prod_abc", KeyError::Prefix),
            ("SK_TEST_abc", KeyError::Prefix),
            (&good[..good.len() - 1], KeyError::Shape),
            (&format!("{good}x"), KeyError::Shape),
            (&format!("{}-{}", &good[..20], &good[21..]), KeyError::Shape),
            (&flipped, KeyError::Checksum),
            (&format!("pk{}", &good[2..]), KeyError::Checksum),
            (&format!("sk_live_{}", &good[8..]), KeyError::Checksum),
        ];
        for (text, expected) in cases {
            assert_eq!(ApiKey::parse(text).map(|_| ()), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn a_key_from_the_old_system_is_refused() {
        let dream = format!("sk_test_{}", "0123456789abcdef".repeat(4));
        assert!(ApiKey::parse(&dream).is_err());
    }

    #[test]
    fn the_display_form_shows_prefix_and_last_four_only() {
        let key = ApiKey::from_random(KeyKind::Secret, Mode::Test, 99);
        assert_eq!(key.prefix(), "sk_test_");
        assert_eq!(key.last4(), &key.expose()[ApiKey::LEN - 4..]);
        let debug = format!("{key:?}");
        assert!(
            !debug.contains(&key.expose()[8..ApiKey::LEN - 4]),
            "{debug}"
        );
    }

    #[test]
    fn the_stored_hash_depends_on_key_and_pepper() {
        let key = ApiKey::from_random(KeyKind::Secret, Mode::Test, 1);
        let other = ApiKey::from_random(KeyKind::Secret, Mode::Test, 2);
        let second_pepper = Pepper::new("another-development-pepper-32-bytes").unwrap();

        let hash = key.hash(&pepper());

        assert_eq!(hash.len(), 64);
        assert_eq!(hash, key.hash(&pepper()), "deterministic");
        assert_ne!(hash, other.hash(&pepper()));
        assert_ne!(hash, key.hash(&second_pepper));
        assert!(!hash.contains(&key.expose()[8..]));
    }

    #[test]
    fn the_hash_is_hmac_sha256() {
        // Plain HMAC-SHA256 over the whole key text, so operators can recompute it elsewhere.
        let key = ApiKey::from_random(KeyKind::Secret, Mode::Test, 0);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"a-development-pepper-of-32-bytes!").unwrap();
        mac.update(key.expose().as_bytes());
        assert_eq!(key.hash(&pepper()), hex(&mac.finalize().into_bytes()));
    }

    #[test]
    fn short_peppers_are_refused() {
        assert!(Pepper::new("too short").is_none());
        assert!(Pepper::new(&"p".repeat(32)).is_some());
        assert_eq!(format!("{:?}", pepper()), "Pepper(…)");
    }

    #[test]
    fn a_key_works_while_active_or_within_its_grace_and_never_once_revoked() {
        use KeyStatus::{Active, Revoked, Rotated};
        // (status, expires_at, now) → works?
        let cases = [
            (Active, None, 5_000, true),
            (Active, Some(1_000), 5_000, true),
            (Rotated, Some(6_000), 5_000, true),
            (Rotated, Some(5_000), 5_000, false),
            (Rotated, Some(4_000), 5_000, false),
            (Rotated, None, 5_000, false),
            (Revoked, Some(9_000), 5_000, false),
            (Revoked, None, 5_000, false),
        ];
        for (status, expires_at, now, works) in cases {
            assert_eq!(
                status.works_at(expires_at, now),
                works,
                "{status:?} {expires_at:?} at {now}"
            );
        }
    }

    #[test]
    fn only_a_key_not_yet_revoked_changes_when_revoked() {
        assert!(KeyStatus::Active.may_revoke());
        assert!(KeyStatus::Rotated.may_revoke());
        assert!(!KeyStatus::Revoked.may_revoke());
    }

    #[test]
    fn a_rotation_retires_the_active_key_for_its_grace_and_leaves_the_others() {
        use KeyStatus::{Active, Revoked, Rotated};
        let keys = [
            ("key_old", Rotated),
            ("key_gone", Revoked),
            ("key_now", Active),
        ];

        let retired = retirement(keys, 3_600, 10_000);

        assert_eq!(
            retired,
            Some(Retirement {
                key_id: "key_now",
                until: 3_610_000
            })
        );
        assert_eq!(retirement([("key_old", Rotated)], 3_600, 10_000), None);
        assert_eq!(
            retirement([("key_now", Active)], 0, 10_000).map(|r| r.until),
            Some(10_000)
        );
    }
}
