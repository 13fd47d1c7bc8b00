//! The development issuer's OpenID Connect sign-in (Authorization Code with PKCE, S256), as
//! pure rules: which authorize requests it takes, what a code remembers, whether a token
//! exchange may redeem it, and where the browser is sent back. The console signs in through
//! the same flow against any OIDC provider in deployments, so local runs exercise its one
//! code path.

use crate::checkout::origin_of;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How long an authorization code may wait for its exchange, in ms.
pub const CODE_LIFETIME_MS: i64 = 60_000;

/// Field → reasons, as the contract's `fieldErrors`.
pub type Refusal = BTreeMap<String, Vec<String>>;

fn refuse(errors: &mut Refusal, field: &str, reason: &str) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(reason.to_owned());
}

/// A validated authorize request: the client, where to send the browser back, and the PKCE
/// challenge the token exchange must answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorize {
    /// The client's id (the console's).
    pub client_id: String,
    /// An absolute http(s) URL on an allowed origin.
    pub redirect_uri: String,
    /// Opaque to the issuer, returned as it came.
    pub state: String,
    /// `base64url(SHA-256(verifier))`.
    pub code_challenge: String,
    /// The scopes asked for, as sent.
    pub scope: String,
}

fn is_challenge(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Parses an authorize request's parameters (query or form), given the origins the console
/// may be served from. The redirect URI is checked before anything could send a browser to it.
///
/// # Errors
/// Field errors for every parameter that is missing or wrong: `response_type` other than
/// `code`, no `client_id`, a `redirect_uri` off the allowed origins, a missing or malformed
/// `code_challenge`, a method other than `S256` (plain PKCE is refused), an overlong `state`.
pub fn parse_authorize(
    pairs: &[(String, String)],
    origins: &[String],
) -> Result<Authorize, Refusal> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut errors = Refusal::new();
    if get("response_type") != Some("code") {
        refuse(&mut errors, "response_type", "must be code");
    }
    let client_id = get("client_id").unwrap_or_default();
    if client_id.is_empty() || client_id.len() > 255 {
        refuse(&mut errors, "client_id", "must be 1–255 characters");
    }
    let redirect_uri = get("redirect_uri").unwrap_or_default();
    let allowed = origin_of(redirect_uri).is_some_and(|o| origins.contains(&o));
    if !allowed {
        refuse(
            &mut errors,
            "redirect_uri",
            "must be an http(s) URL on one of the console's origins",
        );
    }
    let challenge = get("code_challenge").unwrap_or_default();
    if !is_challenge(challenge) {
        refuse(
            &mut errors,
            "code_challenge",
            "must be 43–128 base64url characters (PKCE)",
        );
    }
    if get("code_challenge_method") != Some("S256") {
        refuse(&mut errors, "code_challenge_method", "must be S256");
    }
    let state = get("state").unwrap_or_default();
    if state.len() > 512 {
        refuse(&mut errors, "state", "must be at most 512 characters");
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Authorize {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: state.to_owned(),
        code_challenge: challenge.to_owned(),
        scope: get("scope").unwrap_or("openid").to_owned(),
    })
}

/// The developer who signs in on the issuer's form.
///
/// # Errors
/// Field errors for an empty or overlong subject, or an email without `@`.
pub fn parse_sign_in(pairs: &[(String, String)]) -> Result<(String, Option<String>), Refusal> {
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let mut errors = Refusal::new();
    let sub = get("sub").unwrap_or_default();
    if sub.is_empty() || sub.len() > 255 {
        refuse(&mut errors, "sub", "must be 1–255 characters");
    }
    let email = get("email").filter(|e| !e.is_empty());
    if email.is_some_and(|e| !e.contains('@') || e.len() > 254) {
        refuse(&mut errors, "email", "must be an email address");
    }
    if errors.is_empty() {
        Ok((sub.to_owned(), email.map(str::to_owned)))
    } else {
        Err(errors)
    }
}

/// What an authorization code stands for until it is redeemed, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI it was issued for; the exchange must name the same one.
    pub redirect_uri: String,
    /// The PKCE challenge.
    pub code_challenge: String,
    /// The developer.
    pub sub: String,
    /// Their email, if given.
    pub email: Option<String>,
    /// When they signed in (ms): the token's `auth_time`.
    pub signed_in_at: i64,
    /// The scopes granted.
    pub scope: String,
}

/// The redirect back to the client: `redirect_uri` with `code` and `state` added.
#[must_use]
pub fn redirect_back(request: &Authorize, code: &str) -> String {
    let join = if request.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut url = format!(
        "{}{join}code={}",
        request.redirect_uri.split('#').next().unwrap_or_default(),
        encode(code)
    );
    if !request.state.is_empty() {
        url.push_str("&state=");
        url.push_str(&encode(&request.state));
    }
    url
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `base64url(SHA-256(verifier))`: the challenge a PKCE verifier answers.
#[must_use]
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether a token exchange's form may redeem `grant` (issued at `issued_at`) at `now`: the
/// `authorization_code` grant type, the same client and redirect URI, a verifier that
/// answers the challenge, and a code still within [`CODE_LIFETIME_MS`].
///
/// # Errors
/// The field that failed, with its reason.
pub fn redeem(
    grant: &Grant,
    form: &[(String, String)],
    issued_at: i64,
    now: i64,
) -> Result<(), Refusal> {
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut errors = Refusal::new();
    if get("grant_type") != Some("authorization_code") {
        refuse(&mut errors, "grant_type", "must be authorization_code");
    }
    if get("client_id") != Some(grant.client_id.as_str()) {
        refuse(
            &mut errors,
            "client_id",
            "is not the client the code was issued to",
        );
    }
    if get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        refuse(
            &mut errors,
            "redirect_uri",
            "is not the one the code was issued for",
        );
    }
    let verifier = get("code_verifier").unwrap_or_default();
    if !is_challenge(verifier) || challenge_of(verifier) != grant.code_challenge {
        refuse(
            &mut errors,
            "code_verifier",
            "does not answer the code's challenge",
        );
    }
    if now - issued_at > CODE_LIFETIME_MS {
        refuse(&mut errors, "code", "has expired");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    /// Parameters to override in a request.
    type Overrides<'a> = &'a [(&'a str, &'a str)];
    const ORIGIN: &str = "http://127.0.0.1:8787";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// `base` with each pair of `overrides` replacing the value of its key.
    fn with(base: &[(&str, &str)], overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        base.iter()
            .map(|(k, v)| {
                let v = overrides
                    .iter()
                    .find(|(o, _)| o == k)
                    .map_or(*v, |(_, o)| *o);
                ((*k).to_owned(), v.to_owned())
            })
            .collect()
    }

    fn authorize(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let challenge = challenge_of(VERIFIER);
        with(
            &[
                ("response_type", "code"),
                ("client_id", "tollgate-console"),
                ("redirect_uri", "http://127.0.0.1:8787/console/callback"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "s/1 2"),
                ("scope", "openid email"),
            ],
            overrides,
        )
    }

    #[test]
    fn the_s256_challenge_is_the_rfc_7636_example() {
        assert_eq!(
            challenge_of(VERIFIER),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_well_formed_request_on_an_allowed_origin_is_taken() {
        let taken = parse_authorize(&authorize(&[]), &[ORIGIN.to_owned()]);

        let request = taken.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(request.client_id, "tollgate-console");
        assert_eq!(request.state, "s/1 2");
    }

    #[test]
    fn bad_authorize_requests_are_refused_by_field() {
        let cases: &[(Overrides<'_>, &str)] = &[
            (&[("response_type", "token")], "response_type"),
            (&[("client_id", "")], "client_id"),
            (
                &[("redirect_uri", "https://evil.example/cb")],
                "redirect_uri",
            ),
            (&[("redirect_uri", "javascript:alert(1)")], "redirect_uri"),
            (
                &[("redirect_uri", "http://127.0.0.1:8787@evil.example/")],
                "redirect_uri",
            ),
            (
                &[("code_challenge_method", "plain")],
                "code_challenge_method",
            ),
            (&[("code_challenge", "short")], "code_challenge"),
            (&[("state", &"x".repeat(513))], "state"),
        ];
        for (overrides, field) in cases {
            let refused = parse_authorize(&authorize(overrides), &[ORIGIN.to_owned()]);

            let errors = refused.err().unwrap_or_default();
            assert!(errors.contains_key(*field), "{overrides:?} → {errors:?}");
        }
    }

    #[test]
    fn the_redirect_back_carries_the_code_and_the_state_encoded() {
        let request = parse_authorize(&authorize(&[]), &[ORIGIN.to_owned()])
            .unwrap_or_else(|e| panic!("{e:?}"));

        let url = redirect_back(&request, "abc123");

        assert_eq!(
            url,
            "http://127.0.0.1:8787/console/callback?code=abc123&state=s%2F1%202"
        );
    }

    fn grant() -> Grant {
        Grant {
            client_id: "tollgate-console".into(),
            redirect_uri: "http://127.0.0.1:8787/console/callback".into(),
            code_challenge: challenge_of(VERIFIER),
            sub: "dev_alice".into(),
            email: None,
            signed_in_at: 1_000,
            scope: "openid".into(),
        }
    }

    fn exchange(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        with(
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "tollgate-console"),
                ("redirect_uri", "http://127.0.0.1:8787/console/callback"),
                ("code_verifier", VERIFIER),
            ],
            overrides,
        )
    }

    #[test]
    fn a_code_is_redeemed_by_its_verifier_within_its_lifetime() {
        assert_eq!(
            redeem(&grant(), &exchange(&[]), 1_000, 1_000 + CODE_LIFETIME_MS),
            Ok(())
        );
    }

    #[test]
    fn bad_exchanges_are_refused_by_field() {
        let other_verifier = "a".repeat(43);
        let cases: &[(Overrides<'_>, i64, &str)] = &[
            (&[("grant_type", "password")], 0, "grant_type"),
            (&[("client_id", "someone-else")], 0, "client_id"),
            (
                &[("redirect_uri", "http://127.0.0.1:8787/other")],
                0,
                "redirect_uri",
            ),
            (&[("code_verifier", &other_verifier)], 0, "code_verifier"),
            (&[("code_verifier", "")], 0, "code_verifier"),
            (&[], CODE_LIFETIME_MS + 1, "code"),
        ];
        for (overrides, late, field) in cases {
            let refused = redeem(&grant(), &exchange(overrides), 1_000, 1_000 + late);

            let errors = refused.err().unwrap_or_default();
            assert!(errors.contains_key(*field), "{overrides:?} → {errors:?}");
        }
    }

    #[test]
    fn sign_in_needs_a_subject_and_a_plausible_email() {
        assert_eq!(
            parse_sign_in(&pairs(&[("sub", " dev_a "), ("email", "a@example.test")])),
            Ok(("dev_a".to_owned(), Some("a@example.test".to_owned())))
        );
        assert!(parse_sign_in(&pairs(&[("sub", "")])).is_err());
        assert!(parse_sign_in(&pairs(&[("sub", "x"), ("email", "nope")])).is_err());
    }
}
