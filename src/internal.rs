//! Calls between Tollgate's own workers over service bindings: the body is signed with a key
//! derived from `KEY_PEPPER` for this one purpose, and carries the time it was made, so a
//! route meant for a sibling worker refuses anything from outside — which can neither forge
//! the tag nor reuse an old one past the window.

use crate::keys::Pepper;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the tag.
pub const HEADER: &str = "X-Tollgate-Internal";

/// How far a call's own time may be from the receiver's clock, in ms.
pub const WINDOW_MS: i64 = 60_000;

fn mac(pepper: &Pepper, body: &[u8]) -> Hmac<Sha256> {
    let mut derive = Hmac::<Sha256>::new_from_slice(pepper.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    derive.update(b"tollgate internal call\0");
    let key = derive.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    mac
}

/// The tag for `body` (lower-case hex).
#[must_use]
pub fn sign(pepper: &Pepper, body: &[u8]) -> String {
    mac(pepper, body)
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `tag` is `body`'s (compared in constant time) and `at` (the body's own time, ms)
/// is within [`WINDOW_MS`] of `now`.
#[must_use]
pub fn verify(pepper: &Pepper, body: &[u8], tag: &str, at: i64, now: i64) -> bool {
    let Some(bytes) = decode_hex(tag) else {
        return false;
    };
    (now - at).abs() <= WINDOW_MS && mac(pepper, body).verify_slice(&bytes).is_ok()
}

/// 64 hex digits as 32 bytes; `None` for anything else.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper(fill: char) -> Pepper {
        Pepper::new(&fill.to_string().repeat(32)).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn a_signed_body_verifies_within_the_window_only() {
        let body = br#"{"sessionId":"cs_1","at":1000}"#;
        let tag = sign(&pepper('a'), body);

        assert!(verify(&pepper('a'), body, &tag, 1000, 1000 + WINDOW_MS));
        assert!(!verify(&pepper('a'), body, &tag, 1000, 1001 + WINDOW_MS));
        assert!(!verify(&pepper('a'), body, &tag, 1000 + WINDOW_MS + 1, 0));
    }

    #[test]
    fn another_body_key_or_a_malformed_tag_is_refused() {
        let body = b"{}";
        let tag = sign(&pepper('a'), body);
        let bad = [
            (pepper('b'), &b"{}"[..], tag.clone()),
            (pepper('a'), &b"{ }"[..], tag.clone()),
            (pepper('a'), &b"{}"[..], tag[..62].to_owned()),
            (pepper('a'), &b"{}"[..], "z".repeat(64)),
            (pepper('a'), &b"{}"[..], String::new()),
        ];
        for (key, body, tag) in bad {
            assert!(!verify(&key, body, &tag, 0, 0), "{tag}");
        }
    }
}
