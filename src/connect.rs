//! Stripe Connect onboarding: the single-use `state` that binds an OAuth round trip to the
//! developer who started it and to their browser, and the consent URL.
//!
//! The state is `{nonce}.{expiresAtMs}.{browser}.{mac}`, the MAC keyed from the pepper over
//! the nonce, expiry, browser hash, platform and mode. Its row in `oauth_states` makes it
//! single-use; the MAC makes a row useless to anyone who did not get the state from us, and
//! binds it to one developer. `browser` is the SHA-256 of a second nonce that only the
//! developer's browser holds, in an HttpOnly cookie set by `/authorize`: a state completed by
//! any other browser (a victim lured to Stripe's consent page with the attacker's link) has
//! no matching cookie and is refused. The state carries the hash, never the cookie's value.

use crate::Mode;
use crate::keys::Pepper;
use crate::stripe::Form;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// How long a developer has to finish Stripe's consent screen.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// The cookie that holds the browser's nonce. `__Host-` makes browsers refuse it unless it is
/// `Secure`, host-only and `Path=/`, so a sibling subdomain cannot plant one.
pub const BROWSER_COOKIE: &str = "__Host-tollgate_connect";

/// A state handed to Stripe, parsed back from the callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    nonce: String,
    expires_at: i64,
    browser: String,
    mac: Vec<u8>,
}

/// The hash of the browser's nonce that a state carries (base64url SHA-256).
#[must_use]
pub fn browser_hash(browser_nonce: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"tollgate connect browser\0");
    digest.update(browser_nonce.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.finalize())
}

/// The `Set-Cookie` value that hands `browser_nonce` to the developer's browser for the
/// state's lifetime. `Secure` everywhere, development included: browsers treat
/// `http://127.0.0.1` and `localhost` as secure contexts and keep such cookies there.
/// `SameSite=Lax` still sends it on Stripe's top-level redirect back to `/callback`.
#[must_use]
pub fn browser_cookie(browser_nonce: &str) -> String {
    format!(
        "{BROWSER_COOKIE}={browser_nonce}; Max-Age={}; Path=/; HttpOnly; Secure; SameSite=Lax",
        STATE_TTL_MS / 1000
    )
}

/// The `Set-Cookie` value that removes the browser's nonce once the callback used it.
#[must_use]
pub fn clear_browser_cookie() -> String {
    format!("{BROWSER_COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax")
}

/// The browser's nonce from a `Cookie` request header, if it sent one.
#[must_use]
pub fn browser_nonce(cookie_header: Option<&str>) -> Option<&str> {
    cookie_header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BROWSER_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

fn mac(
    pepper: &Pepper,
    nonce: &str,
    expires_at: i64,
    browser: &str,
    platform_id: &str,
    mode: Mode,
) -> Hmac<Sha256> {
    let mut derive = Hmac::<Sha256>::new_from_slice(pepper.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    derive.update(b"tollgate connect state\0");
    let key = derive.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(
        format!(
            "{nonce}\0{expires_at}\0{browser}\0{platform_id}\0{}",
            mode.as_str()
        )
        .as_bytes(),
    );
    mac
}

impl State {
    /// Issues a state for `platform_id` in `mode`, bound to the browser that holds
    /// `browser_nonce`; both nonces must be random (≥ 128 bits).
    #[must_use]
    pub fn issue(
        pepper: &Pepper,
        nonce: &str,
        expires_at: i64,
        browser_nonce: &str,
        platform_id: &str,
        mode: Mode,
    ) -> String {
        let browser = browser_hash(browser_nonce);
        let tag = mac(pepper, nonce, expires_at, &browser, platform_id, mode)
            .finalize()
            .into_bytes();
        format!(
            "{nonce}.{expires_at}.{browser}.{}",
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Reads a state's parts without trusting them; `None` for anything not of our making.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() > 200 {
            return None;
        }
        let mut parts = raw.split('.');
        let (nonce, expires_at, browser, tag) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || nonce.len() < 16
            || !crate::ids::is_base62(nonce)
            || URL_SAFE_NO_PAD.decode(browser).ok()?.len() != 32
        {
            return None;
        }
        Some(Self {
            nonce: nonce.to_owned(),
            expires_at: expires_at.parse().ok()?,
            browser: browser.to_owned(),
            mac: URL_SAFE_NO_PAD.decode(tag).ok()?,
        })
    }

    /// Whether the browser completing the round trip holds the nonce this state was issued
    /// with (its hash compared in constant time). Checked before any storage is touched, so
    /// another browser's attempt neither consumes the state nor stores anything.
    #[must_use]
    pub fn from_browser(&self, browser_nonce: Option<&str>) -> bool {
        let Some(nonce) = browser_nonce else {
            return false;
        };
        let presented = browser_hash(nonce);
        let (a, b) = (presented.as_bytes(), self.browser.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Whether it expired by `now_ms` (checked before any storage is touched).
    #[must_use]
    pub const fn expired(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_at
    }

    /// Whether it was issued for `platform_id` in `mode` (constant-time compare).
    #[must_use]
    pub fn issued_for(&self, pepper: &Pepper, platform_id: &str, mode: Mode) -> bool {
        mac(
            pepper,
            &self.nonce,
            self.expires_at,
            &self.browser,
            platform_id,
            mode,
        )
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
    const BROWSER: &str = "browser0123456789abcdef";

    fn issue(expires_at: i64) -> String {
        State::issue(&pepper(), NONCE, expires_at, BROWSER, "plt_a", Mode::Test)
    }

    #[test]
    fn a_state_is_honoured_only_for_the_platform_and_mode_it_was_issued_for() {
        let raw = issue(5_000);
        let state = State::parse(&raw).unwrap_or_else(|| panic!("parses"));

        assert!(state.issued_for(&pepper(), "plt_a", Mode::Test));
        assert!(!state.issued_for(&pepper(), "plt_b", Mode::Test));
        assert!(!state.issued_for(&pepper(), "plt_a", Mode::Live));
        assert!(!state.expired(4_999));
        assert!(state.expired(5_000));
    }

    #[test]
    fn a_state_is_completed_only_by_the_browser_holding_its_nonce() {
        let state = State::parse(&issue(5_000)).unwrap_or_else(|| panic!("parses"));
        let cases: &[(Option<&str>, bool)] = &[
            (Some(BROWSER), true),
            (None, false),
            (Some(""), false),
            (Some("browser0123456789abcdeF"), false),
            (Some("browser0123456789abcde"), false),
            (Some(&browser_hash(BROWSER)), false),
        ];
        for (cookie, ok) in cases {
            assert_eq!(state.from_browser(*cookie), *ok, "{cookie:?}");
        }
    }

    #[test]
    fn a_state_carries_the_hash_of_the_browser_nonce_never_the_nonce() {
        let raw = issue(5_000);

        assert!(!raw.contains(BROWSER));
        assert!(raw.contains(&browser_hash(BROWSER)));
    }

    #[test]
    fn a_state_with_a_swapped_browser_hash_no_longer_verifies() {
        let raw = issue(5_000);
        let swapped = raw.replace(
            &browser_hash(BROWSER),
            &browser_hash("attacker-browser-nonce"),
        );
        let state = State::parse(&swapped).unwrap_or_else(|| panic!("parses"));

        assert!(state.from_browser(Some("attacker-browser-nonce")));
        assert!(!state.issued_for(&pepper(), "plt_a", Mode::Test));
    }

    #[test]
    fn a_state_with_a_moved_expiry_no_longer_verifies() {
        let raw = issue(5_000);
        let stretched = raw.replace(".5000.", ".9999999999999.");
        let state = State::parse(&stretched).unwrap_or_else(|| panic!("parses"));
        assert!(!state.issued_for(&pepper(), "plt_a", Mode::Test));
    }

    #[test]
    fn junk_states_do_not_parse() {
        let hash = browser_hash(BROWSER);
        for raw in [
            "",
            "a.b.c",
            "a.b.c.d",
            &format!("short.1.{hash}.AAAA"),
            &format!("{NONCE}.soon.{hash}.AAAA"),
            &format!("{NONCE}.1.AAAA"),
            &format!("{NONCE}.1.AAAA.AAAA"),
            &format!("{NONCE}.1.{hash}.AA.extra"),
            &"x".repeat(300),
        ] {
            assert_eq!(State::parse(raw), None, "{raw}");
        }
    }

    #[test]
    fn the_browser_nonce_is_read_from_the_cookie_header_by_its_exact_name() {
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (None, None),
            (Some(""), None),
            (Some("__Host-tollgate_connect=abc"), Some("abc")),
            (Some("a=1; __Host-tollgate_connect=abc; b=2"), Some("abc")),
            (Some("__Host-tollgate_connect="), None),
            (Some("tollgate_connect=abc"), None),
            (Some("x__Host-tollgate_connect=abc"), None),
        ];
        for (header, nonce) in cases {
            assert_eq!(browser_nonce(*header), *nonce, "{header:?}");
        }
    }

    #[test]
    fn the_cookie_is_host_only_http_only_secure_lax_and_lives_as_long_as_the_state() {
        assert_eq!(
            browser_cookie("n0nce"),
            "__Host-tollgate_connect=n0nce; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        assert!(clear_browser_cookie().contains("Max-Age=0"));
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
