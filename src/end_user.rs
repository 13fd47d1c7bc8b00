//! End users: the developer's own customers. Emails and external ids parsed at the boundary,
//! and the short-lived end-user token a developer's backend mints for a browser.
//!
//! Token: `eut_` + base64url(JSON claims) + `.` + base64url(HMAC-SHA256). The key is derived
//! per project from the server pepper, so a token minted for project A cannot even be checked
//! against project B's key, and its claims name the project again.

use crate::keys::Pepper;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The longest lifetime of an end-user token (1 hour).
pub const MAX_TOKEN_SECONDS: i64 = 3600;

/// A plausible email: one `@`, a dotted domain, no spaces, at most 254 characters. Mail
/// servers are the final judge; this refuses what is certainly wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses and lower-cases the domain (the local part keeps its case).
    ///
    /// # Errors
    /// A reason fit for `fieldErrors.email`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let text = raw.trim();
        let Some((local, domain)) = text.rsplit_once('@') else {
            return Err("must be an email address");
        };
        let sane = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && c != '@')
        };
        let dotted =
            domain.split('.').count() >= 2 && domain.split('.').all(|label| !label.is_empty());
        if text.len() > 254 || !sane(local) || !sane(domain) || !dotted {
            return Err("must be an email address");
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The developer's own id for an end user: 1–255 printable characters.
///
/// # Errors
/// A reason fit for `fieldErrors.externalId`.
pub fn parse_external_id(raw: &str) -> Result<String, &'static str> {
    let text = raw.trim();
    if text.is_empty() || text.len() > 255 || text.chars().any(char::is_control) {
        return Err("must be 1–255 characters without control characters");
    }
    Ok(text.to_owned())
}

/// What an end-user token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The project (`prj_…`).
    #[serde(rename = "p")]
    pub project_id: String,
    /// The end user (`cus_…`).
    #[serde(rename = "u")]
    pub end_user_id: String,
    /// The end user's token version when minted; bumping it revokes older tokens.
    #[serde(rename = "v")]
    pub version: i64,
    /// Expiry (Unix seconds).
    #[serde(rename = "e")]
    pub expires_at: i64,
}

/// Why an end-user token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not a token of this format, or tampered with.
    Invalid,
    /// Minted for another project.
    OtherProject,
    /// Past its expiry.
    Expired,
}

fn project_key(pepper: &Pepper, project_id: &str) -> Hmac<Sha256> {
    let mut derive = Hmac::<Sha256>::new_from_slice(pepper.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    derive.update(b"tollgate end-user token key\0");
    derive.update(project_id.as_bytes());
    let key = derive.finalize().into_bytes();
    Hmac::<Sha256>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

/// Mints a token for `claims`.
///
/// # Panics
/// Never: the claims always serialize.
#[must_use]
pub fn mint(pepper: &Pepper, claims: &TokenClaims) -> String {
    #[expect(clippy::expect_used, reason = "four plain fields always serialize")]
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let mut mac = project_key(pepper, &claims.project_id);
    mac.update(payload.as_bytes());
    format!(
        "eut_{payload}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// Verifies a token for `project_id` at `now` (Unix seconds).
///
/// # Errors
/// Why it was refused.
pub fn verify(
    pepper: &Pepper,
    project_id: &str,
    token: &str,
    now: i64,
) -> Result<TokenClaims, TokenRefusal> {
    let body = token
        .strip_prefix("eut_")
        .filter(|b| b.len() <= 2048)
        .ok_or(TokenRefusal::Invalid)?;
    let (payload, signature) = body.split_once('.').ok_or(TokenRefusal::Invalid)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenRefusal::Invalid)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenRefusal::Invalid)?;
    let claims: TokenClaims = serde_json::from_slice(&bytes).map_err(|_| TokenRefusal::Invalid)?;
    if claims.project_id != project_id {
        return Err(TokenRefusal::OtherProject);
    }
    let mut mac = project_key(pepper, project_id);
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| TokenRefusal::Invalid)?;
    if now >= claims.expires_at {
        return Err(TokenRefusal::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> Pepper {
        Pepper::new("a-development-pepper-of-32-bytes!").unwrap()
    }

    fn claims() -> TokenClaims {
        TokenClaims {
            project_id: "prj_a".into(),
            end_user_id: "cus_1".into(),
            version: 0,
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_minted_token_verifies_for_its_project_until_it_expires() {
        let token = mint(&pepper(), &claims());
        assert_eq!(verify(&pepper(), "prj_a", &token, 999), Ok(claims()));
        assert_eq!(
            verify(&pepper(), "prj_a", &token, 1_000),
            Err(TokenRefusal::Expired)
        );
    }

    #[test]
    fn a_token_for_project_a_is_refused_by_project_b() {
        let token = mint(&pepper(), &claims());
        assert_eq!(
            verify(&pepper(), "prj_b", &token, 0),
            Err(TokenRefusal::OtherProject)
        );
    }

    #[test]
    fn tampered_or_foreign_tokens_are_invalid() {
        let token = mint(&pepper(), &claims());
        let (payload, signature) = token.split_once('.').unwrap();
        let forged_claims = TokenClaims {
            end_user_id: "cus_2".into(),
            ..claims()
        };
        let forged = format!(
            "eut_{}.{signature}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap())
        );
        let other_pepper = mint(
            &Pepper::new("another-development-pepper-32-bytes").unwrap(),
            &claims(),
        );
        for bad in [
            forged.as_str(),
            &format!("{payload}.AAAA"),
            "eut_",
            "nope",
            &other_pepper,
            &"eut_x".repeat(500),
        ] {
            assert_eq!(
                verify(&pepper(), "prj_a", bad, 0),
                Err(TokenRefusal::Invalid),
                "{bad:.40}"
            );
        }
    }

    #[test]
    fn emails_are_checked_for_the_certainly_wrong() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "Ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@ex..com",
            "a nn@example.com",
            "ann@exa mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn external_ids_are_bounded_printable_text() {
        assert_eq!(parse_external_id(" user-42 "), Ok("user-42".into()));
        assert!(parse_external_id("").is_err());
        assert!(parse_external_id(&"x".repeat(256)).is_err());
        assert!(parse_external_id("a\nb").is_err());
    }
}
