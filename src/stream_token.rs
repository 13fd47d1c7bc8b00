//! The token that lets a browser's `EventSource` open one checkout session's event stream.
//! `EventSource` cannot send headers, so the caller who may listen (the session's end user,
//! its guest holding the cart's secret, or the server) asks for a token and the stream's URL
//! carries it with the publishable key: `cst_<expiry>.<tag>`, the tag an HMAC-SHA256 under a
//! key derived from `KEY_PEPPER` for this purpose alone, over the project, the session and
//! the expiry. It opens that one session's stream, for [`LIFETIME_SECONDS`], and nothing else.

use crate::keys::Pepper;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How long a stream token opens its stream (a page opens it at once; an open stream is not
/// cut when the token ends).
pub const LIFETIME_SECONDS: i64 = 120;

const PREFIX: &str = "cst_";

fn tag(pepper: &Pepper, project_id: &str, session_id: &str, expires_s: i64) -> Hmac<Sha256> {
    let mut derive = Hmac::<Sha256>::new_from_slice(pepper.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    derive.update(b"tollgate checkout stream token v1\0");
    let key = derive.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{project_id}:{session_id}:{expires_s}").as_bytes());
    mac
}

/// A token opening `session_id`'s stream (of `project_id`) until `expires_s` (Unix seconds).
#[must_use]
pub fn sign(pepper: &Pepper, project_id: &str, session_id: &str, expires_s: i64) -> String {
    let signature = tag(pepper, project_id, session_id, expires_s)
        .finalize()
        .into_bytes();
    format!("{PREFIX}{expires_s}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Whether `token` opens `session_id`'s stream of `project_id` at `now_s`: issued by
/// [`sign`] for exactly that session and project, and not expired. Compared in constant time.
#[must_use]
pub fn opens(pepper: &Pepper, token: &str, project_id: &str, session_id: &str, now_s: i64) -> bool {
    let Some((expiry, signature)) = token
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('.'))
    else {
        return false;
    };
    let Ok(expires_s) = expiry.parse::<i64>() else {
        return false;
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    now_s < expires_s
        && expires_s - now_s <= LIFETIME_SECONDS
        && tag(pepper, project_id, session_id, expires_s)
            .verify_slice(&bytes)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> Pepper {
        Pepper::new(&"p".repeat(40)).unwrap_or_else(|| panic!("a 40-byte pepper"))
    }

    #[test]
    fn a_token_opens_its_own_session_until_it_expires() {
        let token = sign(&pepper(), "prj_1", "cs_1", 1_000);

        assert!(opens(&pepper(), &token, "prj_1", "cs_1", 999));
        assert!(!opens(&pepper(), &token, "prj_1", "cs_1", 1_000), "expired");
    }

    #[test]
    fn a_token_opens_nothing_else() {
        let token = sign(&pepper(), "prj_1", "cs_1", 1_000);
        let other = Pepper::new(&"q".repeat(40)).unwrap_or_else(|| panic!("a pepper"));
        let far = sign(&pepper(), "prj_1", "cs_1", 1_000 + LIFETIME_SECONDS + 10);
        let cases = [
            (token.as_str(), "prj_1", "cs_2", "another session"),
            (token.as_str(), "prj_2", "cs_1", "another project"),
            ("cst_1000.AAAA", "prj_1", "cs_1", "a made-up tag"),
            ("cst_x.AAAA", "prj_1", "cs_1", "a bad expiry"),
            ("eut_1000.AAAA", "prj_1", "cs_1", "another kind of token"),
            ("", "prj_1", "cs_1", "nothing"),
            (far.as_str(), "prj_1", "cs_1", "an expiry past the lifetime"),
        ];
        for (token, project, session, what) in cases {
            assert!(!opens(&pepper(), token, project, session, 990), "{what}");
        }
        assert!(
            !opens(
                &other,
                &sign(&pepper(), "prj_1", "cs_1", 1_000),
                "prj_1",
                "cs_1",
                990
            ),
            "another pepper"
        );
    }
}
