//! Stripe Connect onboarding: the single-use `state` that binds an OAuth round trip to the
//! developer who started it, and the consent URL.
//!
//! The state is `{nonce}.{expiresAtMs}.{mac}`, the MAC keyed from the pepper over the nonce,
//! expiry, platform and mode. Its row in `oauth_states` makes it single-use; the MAC makes a
//! row useless to anyone who did not get the state from us, and binds it to one developer.

use crate::Mode;
use crate::keys::Pepper;
use crate::stripe::Form;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How long a developer has to finish Stripe's consent screen.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// A state handed to Stripe, parsed back from the callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    nonce: String,
    expires_at: i64,
    mac: Vec<u8>,
}

fn mac(
    pepper: &Pepper,
    nonce: &str,
    expires_at: i64,
    platform_id: &str,
    mode: Mode,
) -> Hmac<Sha256> {
    let mut derive = Hmac::<Sha256>::new_from_slice(pepper.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    derive.update(b"tollgate connect state\0");
    let key = derive.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{nonce}\0{expires_at}\0{platform_id}\0{}", mode.as_str()).as_bytes());
    mac
}

impl State {
    /// Issues a state for `platform_id` in `mode`; `nonce` must be random (≥ 128 bits).
    #[must_use]
    pub fn issue(
        pepper: &Pepper,
        nonce: &str,
        expires_at: i64,
        platform_id: &str,
        mode: Mode,
    ) -> String {
        let tag = mac(pepper, nonce, expires_at, platform_id, mode)
            .finalize()
            .into_bytes();
        format!("{nonce}.{expires_at}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Reads a state's parts without trusting them; `None` for anything not of our making.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() > 200 {
            return None;
        }
        let mut parts = raw.split('.');
        let (nonce, expires_at, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || nonce.len() < 16 || !crate::ids::is_base62(nonce) {
            return None;
        }
        Some(Self {
            nonce: nonce.to_owned(),
            expires_at: expires_at.parse().ok()?,
            mac: URL_SAFE_NO_PAD.decode(tag).ok()?,
        })
    }

    /// Whether it expired by `now_ms` (checked before any storage is touched).
    #[must_use]
    pub const fn expired(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_at
    }

    /// Whether it was issued for `platform_id` in `mode` (constant-time compare).
    #[must_use]
    pub fn issued_for(&self, pepper: &Pepper, platform_id: &str, mode: Mode) -> bool {
        mac(pepper, &self.nonce, self.expires_at, platform_id, mode)
            .verify_slice(&self.mac)
            .is_ok()
    }
}

/// Stripe's consent page for the platform's Connect application.
#[must_use]
pub fn authorize_url(
    authorize_base: &str,
    client_id: &str,
    state: &str,
    redirect_uri: &str,
    email: Option<&str>,
) -> String {
    let query = Form::new()
        .field("response_type", "code")
        .field("client_id", client_id)
        .field("scope", "read_write")
        .field("state", state)
        .field("redirect_uri", redirect_uri)
        .optional("stripe_user[email]", email);
    format!("{authorize_base}?{}", query.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> Pepper {
        Pepper::new("a-development-pepper-of-32-bytes!").unwrap_or_else(|| unreachable!())
    }

    const NONCE: &str = "abcdefghij0123456789";

    #[test]
    fn a_state_is_honoured_only_for_the_platform_and_mode_it_was_issued_for() {
        let raw = State::issue(&pepper(), NONCE, 5_000, "plt_a", Mode::Test);
        let state = State::parse(&raw).unwrap_or_else(|| panic!("parses"));

        assert!(state.issued_for(&pepper(), "plt_a", Mode::Test));
        assert!(!state.issued_for(&pepper(), "plt_b", Mode::Test));
        assert!(!state.issued_for(&pepper(), "plt_a", Mode::Live));
        assert!(!state.expired(4_999));
        assert!(state.expired(5_000));
    }

    #[test]
    fn a_state_with_a_moved_expiry_no_longer_verifies() {
        let raw = State::issue(&pepper(), NONCE, 5_000, "plt_a", Mode::Test);
        let stretched = raw.replace(".5000.", ".9999999999999.");
        let state = State::parse(&stretched).unwrap_or_else(|| panic!("parses"));
        assert!(!state.issued_for(&pepper(), "plt_a", Mode::Test));
    }

    #[test]
    fn junk_states_do_not_parse() {
        for raw in [
            "",
            "a.b.c",
            "short.1.AAAA",
            &format!("{NONCE}.soon.AAAA"),
            &format!("{NONCE}.1.AA.extra"),
            &"x".repeat(300),
        ] {
            assert_eq!(State::parse(raw), None, "{raw}");
        }
    }

    #[test]
    fn the_consent_url_carries_the_state_and_redirect() {
        let url = authorize_url(
            "https://connect.example/oauth/authorize",
            "ca_1",
            "s.1.x",
            "https://c.example/callback",
            None,
        );
        assert_eq!(
            url,
            "https://connect.example/oauth/authorize?response_type=code&client_id=ca_1&scope=read_write&state=s.1.x&redirect_uri=https%3A%2F%2Fc.example%2Fcallback"
        );
    }
}
