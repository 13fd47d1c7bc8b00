//! Identifiers and the randomness behind them: base62 text, prefixed ids (`plt_…`, `req_…`).
//!
//! Every id Tollgate mints carries 128 random bits, written as exactly 22 base62 characters
//! so ids sort and compare as plain text and never need escaping in URLs, headers or SQL.

/// The base62 alphabet, in ASCII order so encoded values of equal length sort like numbers.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of a 128-bit value in base62: 62^22 > 2^128 > 62^21.
pub const BASE62_U128_LEN: usize = 22;

/// Encodes a 128-bit value as exactly [`BASE62_U128_LEN`] base62 characters (zero-padded).
#[must_use]
pub fn base62_u128(value: u128) -> String {
    base62_fixed(value, BASE62_U128_LEN)
}

/// Encodes the low digits of `value` as exactly `len` base62 characters (zero-padded); higher
/// digits are dropped, so `len` must cover the value's range when all of it matters.
#[must_use]
pub fn base62_fixed(mut value: u128, len: usize) -> String {
    // wasm32 has no 128-bit division: each u128 `/ 62` is a software routine, and a request id
    // took 22 of them. Peeling ten digits at a time off a 64-bit chunk needs three.
    const CHUNK_DIGITS: usize = 10;
    const CHUNK: u128 = 62_u128.pow(10);
    let mut out = vec![b'0'; len];
    for digits in out.rchunks_mut(CHUNK_DIGITS) {
        // A remainder below 62^10 < 2^60 fits a u64.
        let mut chunk = (value % CHUNK) as u64;
        value /= CHUNK;
        for slot in digits.iter_mut().rev() {
            // The remainder is below 62, so the index cast cannot truncate.
            *slot = BASE62[(chunk % 62) as usize];
            chunk /= 62;
        }
    }
    out.into_iter().map(char::from).collect()
}

/// Whether `text` is non-empty and uses only base62 characters.
#[must_use]
pub fn is_base62(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Fills an array with cryptographically secure random bytes.
///
/// # Panics
/// Panics when the platform has no secure random source. On Workers this is
/// `crypto.getRandomValues`, which cannot fail; anywhere it could, minting predictable
/// ids or keys would be worse than failing the request.
#[must_use]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[expect(
        clippy::expect_used,
        reason = "no secure randomness is unrecoverable; see # Panics"
    )]
    getrandom::fill(&mut buf).expect("secure random source unavailable");
    buf
}

/// A fresh random 128-bit value.
#[must_use]
pub fn random_u128() -> u128 {
    u128::from_be_bytes(random_bytes::<16>())
}

/// A new id: `prefix` + `_` + 22 base62 characters of fresh randomness.
#[must_use]
pub fn new_id(prefix: &str) -> String {
    prefixed(prefix, random_u128())
}

/// The id for a given 128-bit value; [`new_id`] with the randomness passed in, for tests.
#[must_use]
pub fn prefixed(prefix: &str, value: u128) -> String {
    let mut id = String::with_capacity(prefix.len() + 1 + BASE62_U128_LEN);
    id.push_str(prefix);
    id.push('_');
    id.push_str(&base62_u128(value));
    id
}

/// An id derived from `seed`: the same seed always gives the same id. For records a retried
/// operation must recreate identically (a promotion's live twins of test records).
#[must_use]
pub fn derived_id(prefix: &str, seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    prefixed(prefix, u128::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_encoding_matches_one_digit_at_a_time() {
        let reference = |mut value: u128, len: usize| {
            let mut out = vec![b'0'; len];
            for slot in out.iter_mut().rev() {
                *slot = BASE62[usize::try_from(value % 62).unwrap_or(0)];
                value /= 62;
            }
            String::from_utf8(out).unwrap_or_default()
        };
        let mut value: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834;
        for len in [1, 2, 9, 10, 11, 20, 21, 22] {
            for _ in 0..200 {
                value = value.rotate_left(7) ^ value.wrapping_mul(0x2545_F491_4F6C_DD1D);
                assert_eq!(
                    base62_fixed(value, len),
                    reference(value, len),
                    "{value} in {len}"
                );
            }
            assert_eq!(base62_fixed(u128::MAX, len), reference(u128::MAX, len));
        }
    }

    #[test]
    fn zero_encodes_as_all_zero_digits() {
        assert_eq!(base62_u128(0), "0".repeat(BASE62_U128_LEN));
    }

    #[test]
    fn the_largest_value_still_fits_in_twenty_two_characters() {
        let text = base62_u128(u128::MAX);
        assert_eq!(text.len(), BASE62_U128_LEN);
        assert_eq!(text, "7n42DGM5Tflk9n8mt7Fhc7");
    }

    #[test]
    fn small_values_encode_positionally() {
        assert!(base62_u128(61).ends_with("0z"));
        assert!(base62_u128(62).ends_with("10"));
    }

    #[test]
    fn encoding_preserves_numeric_order() {
        let values = [0u128, 1, 61, 62, 3_843, 1 << 64, u128::MAX / 3, u128::MAX];
        for pair in values.windows(2) {
            assert!(base62_u128(pair[0]) < base62_u128(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn a_prefixed_id_is_prefix_underscore_and_base62() {
        let id = prefixed("plt", 42);
        assert_eq!(id, format!("plt_{}", base62_u128(42)));
        assert!(is_base62(&id["plt_".len()..]));
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(new_id("req"), new_id("req"));
    }

    #[test]
    fn base62_check_rejects_empty_and_foreign_characters() {
        for bad in ["", "abc-def", "abc_def", "é", "abc "] {
            assert!(!is_base62(bad), "{bad:?} should not be base62");
        }
        assert!(is_base62("Az09"));
    }

    #[test]
    fn a_derived_id_depends_only_on_its_seed() {
        let a = derived_id("tier", "promote:tier_1");
        assert_eq!(a, derived_id("tier", "promote:tier_1"));
        assert_ne!(a, derived_id("tier", "promote:tier_2"));
        assert!(a.starts_with("tier_"));
    }
}
