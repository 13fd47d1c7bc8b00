//! JSON Web Tokens: decoding, the algorithm allow-list, and the claim rules Tollgate applies
//! to developer and end-user tokens. The RS256 signature itself is checked by the caller with
//! WebCrypto against the issuer's JWKS; nothing here trusts a token before that check.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Tokens longer than this are refused before decoding.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The only signature algorithm accepted. `none`, HMAC and every other algorithm are refused
/// before any key is looked up, so an RSA public key can never be used as an HMAC secret.
pub const ALGORITHM: &str = "RS256";

/// Why a token was refused. All of these answer 401; the message says which rule failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url segments of JSON, too long, or missing a required claim.
    Malformed,
    /// The header names an algorithm other than RS256.
    Algorithm,
    /// No key of the issuer has the header's `kid`.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// `iss` is not the configured issuer.
    Issuer,
    /// `aud` does not contain the configured audience.
    Audience,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
}

impl TokenError {
    /// A message safe to return: it names the rule, never the token's content.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "The bearer token is malformed.",
            Self::Algorithm => {
                "The bearer token uses an algorithm that is not accepted (RS256 only)."
            }
            Self::UnknownKey => "The bearer token was signed with an unknown key.",
            Self::Signature => "The bearer token's signature does not verify.",
            Self::Issuer => "The bearer token was issued by an issuer that is not trusted.",
            Self::Audience => "The bearer token is meant for another audience.",
            Self::Expired => "The bearer token has expired.",
            Self::NotYetValid => "The bearer token is not valid yet.",
        }
    }
}

/// The JOSE header fields Tollgate reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The signature algorithm.
    pub alg: String,
    /// The id of the signing key in the issuer's JWKS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Usually `JWT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// `aud` is a string or an array of strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Self::One(aud) => aud == wanted,
            Self::Many(list) => list.iter().any(|aud| aud == wanted),
        }
    }
}

/// The registered claims Tollgate reads (times in Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user's stable id at the issuer.
    pub sub: String,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Expiry (required).
    pub exp: i64,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// When the user last proved who they are (OIDC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The user's email, when the issuer shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Claims {
    /// When the user last signed in: `auth_time`, else `iat`.
    #[must_use]
    pub fn signed_in_at(&self) -> Option<i64> {
        self.auth_time.or(self.iat)
    }

    /// Whether the sign-in is at most `max_age` seconds old at `now` (clock skew included).
    #[must_use]
    pub fn is_fresh(&self, now: i64, max_age: i64) -> bool {
        self.signed_in_at().is_some_and(|at| now - at <= max_age)
    }
}

/// What the caller expects of a token.
#[derive(Clone, Copy, Debug)]
pub struct Expectations<'a> {
    /// The trusted issuer (`iss`).
    pub issuer: &'a str,
    /// The audience that must be in `aud`.
    pub audience: &'a str,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub leeway: i64,
}

/// A decoded token whose signature has not been checked yet.
#[derive(Clone, Debug)]
pub struct Unverified {
    /// The header.
    pub header: Header,
    /// The claims.
    pub claims: Claims,
    /// `base64url(header) + "." + base64url(payload)`: the bytes the signature covers.
    pub signing_input: String,
    /// The raw signature bytes.
    pub signature: Vec<u8>,
}

/// Decodes a compact JWT and refuses any algorithm but RS256.
///
/// # Errors
/// [`TokenError::Malformed`] or [`TokenError::Algorithm`].
pub fn decode(token: &str) -> Result<Unverified, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Header = json_segment(head)?;
    if header.alg != ALGORITHM {
        return Err(TokenError::Algorithm);
    }
    let claims: Claims = json_segment(body)?;
    if claims.sub.is_empty() || claims.iss.is_empty() {
        return Err(TokenError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TokenError::Malformed)?;
    if signature.is_empty() {
        return Err(TokenError::Malformed);
    }
    Ok(Unverified {
        header,
        claims,
        signing_input: format!("{head}.{body}"),
        signature,
    })
}

fn json_segment<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

impl Claims {
    /// Checks issuer, audience and validity window at `now` (Unix seconds).
    ///
    /// # Errors
    /// The first rule that fails.
    pub fn check(&self, expected: &Expectations<'_>, now: i64) -> Result<(), TokenError> {
        if self.iss != expected.issuer {
            return Err(TokenError::Issuer);
        }
        if !self
            .aud
            .as_ref()
            .is_some_and(|aud| aud.contains(expected.audience))
        {
            return Err(TokenError::Audience);
        }
        if now > self.exp + expected.leeway {
            return Err(TokenError::Expired);
        }
        if self.nbf.is_some_and(|nbf| now + expected.leeway < nbf) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }
}

/// The signing input for `header` and `claims`, for an issuer that signs tokens.
///
/// # Errors
/// When either cannot be serialized.
pub fn signing_input(header: &Header, claims: &serde_json::Value) -> serde_json::Result<String> {
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    ))
}

/// The compact token: signing input + `.` + base64url(signature).
#[must_use]
pub fn assemble(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXPECTED: Expectations<'static> = Expectations {
        issuer: "https://id.test",
        audience: "tollgate",
        leeway: 30,
    };
    const NOW: i64 = 1_800_000_000;

    fn token(header: serde_json::Value, claims: &serde_json::Value) -> String {
        let header: Header = serde_json::from_value(header).unwrap();
        assemble(&signing_input(&header, claims).unwrap(), b"sig")
    }

    fn claims() -> serde_json::Value {
        json!({ "iss": "https://id.test", "sub": "user_1", "aud": "tollgate", "exp": NOW + 60, "iat": NOW - 10 })
    }

    #[test]
    fn a_well_formed_rs256_token_decodes() {
        let decoded = decode(&token(json!({ "alg": "RS256", "kid": "k1" }), &claims())).unwrap();

        assert_eq!(decoded.header.kid.as_deref(), Some("k1"));
        assert_eq!(decoded.claims.sub, "user_1");
        assert_eq!(decoded.signature, b"sig");
        assert_eq!(decoded.signing_input.matches('.').count(), 1);
    }

    #[test]
    fn every_algorithm_but_rs256_is_refused_before_any_key_is_used() {
        for alg in ["none", "HS256", "RS384", "ES256", "PS256", "rs256", ""] {
            let outcome = decode(&token(json!({ "alg": alg }), &claims()));
            assert_eq!(outcome.map(|_| ()), Err(TokenError::Algorithm), "{alg:?}");
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = token(json!({ "alg": "RS256" }), &claims());
        let no_sub = token(
            json!({ "alg": "RS256" }),
            &json!({ "iss": "i", "exp": NOW }),
        );
        let no_exp = token(
            json!({ "alg": "RS256" }),
            &json!({ "iss": "i", "sub": "s" }),
        );
        let empty_signature = good.rsplit_once('.').unwrap().0.to_owned() + ".";
        let cases = [
            String::new(),
            "abc".to_owned(),
            "a.b".to_owned(),
            format!("{good}.extra"),
            format!("!!.{}", &good[good.find('.').unwrap() + 1..]),
            no_sub,
            no_exp,
            empty_signature,
            "a".repeat(MAX_TOKEN_LEN + 1),
        ];
        for case in cases {
            assert_eq!(
                decode(&case).map(|_| ()),
                Err(TokenError::Malformed),
                "{case:?}"
            );
        }
    }

    #[test]
    fn claims_within_their_window_pass() {
        let c: Claims = serde_json::from_value(claims()).unwrap();
        assert_eq!(c.check(&EXPECTED, NOW), Ok(()));
    }

    #[test]
    fn each_claim_rule_refuses_with_its_own_reason() {
        let with = |patch: serde_json::Value| {
            let mut value = claims();
            value
                .as_object_mut()
                .unwrap()
                .extend(patch.as_object().unwrap().clone());
            serde_json::from_value::<Claims>(value).unwrap()
        };
        let cases = [
            (
                with(json!({ "iss": "https://evil.test" })),
                TokenError::Issuer,
            ),
            (with(json!({ "aud": "someone-else" })), TokenError::Audience),
            (with(json!({ "aud": ["a", "b"] })), TokenError::Audience),
            (with(json!({ "aud": null })), TokenError::Audience),
            (with(json!({ "exp": NOW - 31 })), TokenError::Expired),
            (with(json!({ "nbf": NOW + 31 })), TokenError::NotYetValid),
        ];
        for (c, expected) in cases {
            assert_eq!(c.check(&EXPECTED, NOW), Err(expected), "{c:?}");
        }
    }

    #[test]
    fn the_leeway_tolerates_small_clock_skew() {
        let c: Claims = serde_json::from_value(json!({
            "iss": "https://id.test", "sub": "u", "aud": ["x", "tollgate"], "exp": NOW - 30, "nbf": NOW + 30
        }))
        .unwrap();
        assert_eq!(c.check(&EXPECTED, NOW), Ok(()));
    }

    #[test]
    fn freshness_uses_auth_time_then_iat() {
        let mut c: Claims = serde_json::from_value(claims()).unwrap();
        assert!(c.is_fresh(NOW, 600), "iat 10 s ago");
        c.auth_time = Some(NOW - 601);
        assert!(!c.is_fresh(NOW, 600), "auth_time wins over iat");
        c.auth_time = None;
        c.iat = None;
        assert!(!c.is_fresh(NOW, 600), "no sign-in time is never fresh");
    }

    #[test]
    fn error_messages_never_echo_the_token() {
        for error in [
            TokenError::Malformed,
            TokenError::Expired,
            TokenError::Signature,
        ] {
            assert!(!error.message().contains("eyJ"));
        }
    }
}
