//! Who is calling: secret keys (`sk_test_…` / `sk_live_…`, whose prefix sets the mode), the
//! `Authorization` header that carries them, and connected account ids.
//!
//! The sandbox accepts any well-formed secret key (it has no accounts to check them against);
//! the key only decides test or live mode, and messages about a key never show it whole.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The platform's own account: every call without `Stripe-Account` acts for it.
pub(crate) const PLATFORM_ACCOUNT: &str = "acct_1TollgateSandboxPlatform";

/// A well-formed secret key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SecretKey {
    text: String,
    livemode: bool,
}

impl SecretKey {
    /// `^sk_(test|live)_[0-9A-Za-z]{16,}$`, checked by hand so the worker needs no regex engine.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (livemode, rest) = if let Some(rest) = text.strip_prefix("sk_test_") {
            (false, rest)
        } else {
            (true, text.strip_prefix("sk_live_")?)
        };
        (rest.len() >= 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| Self {
            text: text.to_owned(),
            livemode,
        })
    }

    pub(crate) fn livemode(&self) -> bool {
        self.livemode
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

/// The key as Stripe shows it in errors: its prefix and last four characters.
pub(crate) fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len());
    }
    let prefix: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}{}{tail}", "*".repeat(chars.len() - 12))
}

/// The key an `Authorization` header presents: `Bearer <key>`, or Basic auth with the key as
/// the user name (what `curl -u sk_test_…:` sends). `None` when there is no key at all.
pub(crate) fn presented(header: Option<&str>) -> Option<String> {
    let header = header?.trim();
    let (scheme, value) = header.split_once(' ')?;
    let value = value.trim();
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        value.to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(value).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.split_once(':')
            .map_or(text.clone(), |(user, _)| user.to_owned())
    } else {
        return None;
    };
    (!key.is_empty()).then_some(key)
}

/// Whether `text` looks like a Stripe account id (`acct_` and base62).
pub(crate) fn is_account_id(text: &str) -> bool {
    text.strip_prefix("acct_")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_and_live_keys_set_the_mode() {
        let test = SecretKey::parse("sk_test_0123456789abcdef").unwrap();
        let live = SecretKey::parse("sk_live_ABCDEFGHIJKLMNOP1234").unwrap();

        assert!(!test.livemode());
        assert!(live.livemode());
        assert_eq!(live.as_str(), "sk_live_ABCDEFGHIJKLMNOP1234");
    }

    #[test]
    fn keys_that_are_not_secret_keys_are_refused() {
        for bad in [
            "",
            "sk_test_short",
            "sk_test_0123456789abcde",
            "pk_test_0123456789abcdef",
            "rk_live_0123456789abcdef",
            "sk_prod_0123456789abcdef",
            "sk_test_0123456789abcde-",
            "sk_test_0123456789abcdef ",
            "SK_TEST_0123456789abcdef",
        ] {
            assert_eq!(SecretKey::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn masking_keeps_only_the_prefix_and_last_four() {
        assert_eq!(mask("sk_test_0123456789abcdef"), "sk_test_************cdef");
        assert_eq!(mask("short"), "*****");
    }

    #[test]
    fn bearer_and_basic_headers_both_present_the_key() {
        let basic = format!("Basic {}", STANDARD.encode("sk_test_0123456789abcdef:"));

        assert_eq!(
            presented(Some("Bearer sk_test_x")).as_deref(),
            Some("sk_test_x")
        );
        assert_eq!(
            presented(Some(&basic)).as_deref(),
            Some("sk_test_0123456789abcdef")
        );
        for none in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer  "),
            Some("Token x"),
        ] {
            assert_eq!(presented(none), None, "{none:?}");
        }
    }

    #[test]
    fn account_ids_are_acct_and_base62() {
        assert!(is_account_id("acct_1Abc"));
        assert!(is_account_id(PLATFORM_ACCOUNT));
        for bad in ["acct_", "acct-1", "cus_1", "acct_a b", "acct_é"] {
            assert!(!is_account_id(bad), "{bad}");
        }
    }
}
