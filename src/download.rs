//! Protected downloads: what a download request names, and the short-lived token its URL
//! carries.
//!
//! Token: `dlt_` + base64url(claims) + `.` + base64url(HMAC-SHA256 over that payload), keyed
//! by `DOWNLOAD_SIGNING_KEY`. The claims are `project:end_user:entitlement:asset:expiry` —
//! ids never contain `:`, and plain text keeps the token short and the parser small. The claims bind the project, the end user, the entitlement
//! (`ent_…` for an order, `subr_…` for a subscription) and the asset, and expire within
//! [`TOKEN_SECONDS`]. Holding a token proves only that Tollgate issued it: the entitlement is
//! checked again when the file is fetched, so a revoked or lapsed one stops it at once.

use crate::console::FieldErrors;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::fmt;

/// How long a download URL works (5 minutes).
pub const TOKEN_SECONDS: i64 = 300;

/// Domain separation: this key signs nothing else, but if it ever did, a download token could
/// not be mistaken for another message.
const CONTEXT: &[u8] = b"tollgate download token v1\0";

/// The server-side key download tokens are signed with. `Debug` never shows it.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// Accepts a key of at least [`SigningKey::MIN_LEN`] bytes.
    #[must_use]
    pub fn new(secret: &str) -> Option<Self> {
        (secret.len() >= Self::MIN_LEN).then(|| Self(secret.as_bytes().to_vec()))
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(CONTEXT);
        mac.update(payload.as_bytes());
        mac
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

/// What grants a download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// A paid order's entitlement (`ent_…`).
    Order,
    /// An active or trialing subscription to a tier (`subr_…`).
    Subscription,
}

impl Grant {
    /// The kind of an entitlement id, from its prefix.
    #[must_use]
    pub fn of(entitlement_id: &str) -> Option<Self> {
        if entitlement_id.starts_with("ent_") {
            Some(Self::Order)
        } else if entitlement_id.starts_with("subr_") {
            Some(Self::Subscription)
        } else {
            None
        }
    }
}

/// Where an order's entitlement stands (`entitlements.status`). A subscription's entitlement
/// has no status of its own: it follows the subscription's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderAccess {
    /// The buyer has it.
    Active,
    /// Taken back: by the developer, a refund or a dispute.
    Revoked,
}

impl OrderAccess {
    /// The stored word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }

    /// The state a stored word names.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        [Self::Active, Self::Revoked]
            .into_iter()
            .find(|s| s.as_str() == word)
    }
}

/// A download link just issued: where to fetch the file, until when, and what it is.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadLink<'a> {
    /// `…/api/downloads/{token}` on the api's origin.
    pub url: String,
    /// When the link stops working (ms).
    pub expires_at: i64,
    /// The file's name.
    pub filename: &'a str,
    /// Its size in bytes.
    pub size: i64,
}

/// What a download token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadClaims {
    /// The project (`prj_…`).
    pub project_id: String,
    /// The end user (`cus_…`).
    pub end_user_id: String,
    /// The entitlement (`ent_…` or `subr_…`).
    pub entitlement_id: String,
    /// The private asset (`ast_…`).
    pub asset_id: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

impl DownloadClaims {
    fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.project_id, self.end_user_id, self.entitlement_id, self.asset_id, self.expires_at
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let id = |part: &str| {
            (!part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                .then(|| part.to_owned())
        };
        let mut parts = text.split(':');
        let claims = Self {
            project_id: id(parts.next()?)?,
            end_user_id: id(parts.next()?)?,
            entitlement_id: id(parts.next()?)?,
            asset_id: id(parts.next()?)?,
            expires_at: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(claims)
    }
}

/// Why a download token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownloadRefusal {
    /// Not a token of this format, not signed by this key, or altered.
    Invalid,
    /// Past its expiry.
    Expired,
}

/// Signs `claims` into a token.
#[must_use]
pub fn sign(key: &SigningKey, claims: &DownloadClaims) -> String {
    let payload = URL_SAFE_NO_PAD.encode(claims.encode());
    let signature = URL_SAFE_NO_PAD.encode(key.mac(&payload).finalize().into_bytes());
    format!("dlt_{payload}.{signature}")
}

/// Verifies a token at `now` (Unix seconds). The signature is checked, in constant time,
/// before anything in the payload is believed.
///
/// # Errors
/// Why it was refused.
pub fn verify(key: &SigningKey, token: &str, now: i64) -> Result<DownloadClaims, DownloadRefusal> {
    let body = token
        .strip_prefix("dlt_")
        .filter(|b| b.len() <= 1024)
        .ok_or(DownloadRefusal::Invalid)?;
    let (payload, signature) = body.split_once('.').ok_or(DownloadRefusal::Invalid)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| DownloadRefusal::Invalid)?;
    key.mac(payload)
        .verify_slice(&signature)
        .map_err(|_| DownloadRefusal::Invalid)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| DownloadRefusal::Invalid)?;
    let claims = std::str::from_utf8(&bytes)
        .ok()
        .and_then(DownloadClaims::decode)
        .filter(|c| Grant::of(&c.entitlement_id).is_some())
        .ok_or(DownloadRefusal::Invalid)?;
    if now >= claims.expires_at {
        return Err(DownloadRefusal::Expired);
    }
    Ok(claims)
}

/// `POST /api/downloads`: exactly one of the three.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DownloadInput {
    /// A product whose order entitles the end user.
    pub product_id: Option<String>,
    /// A tier whose subscription entitles the end user.
    pub tier_id: Option<String>,
    /// A private asset attached to a product or tier the end user is entitled to.
    pub asset_id: Option<String>,
}

/// What a download request names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `prd_…`
    Product(String),
    /// `tier_…`
    Tier(String),
    /// `ast_…`
    Asset(String),
}

impl DownloadInput {
    /// Checks that exactly one target is named, with the id prefix it should carry.
    ///
    /// # Errors
    /// Field errors naming the problem.
    pub fn validate(self) -> Result<Target, FieldErrors> {
        let named: Vec<(&str, &str, String)> = [
            ("productId", "prd_", self.product_id),
            ("tierId", "tier_", self.tier_id),
            ("assetId", "ast_", self.asset_id),
        ]
        .into_iter()
        .filter_map(|(field, prefix, value)| value.map(|v| (field, prefix, v)))
        .collect();
        let mut errors = FieldErrors::new();
        match named.as_slice() {
            [(field, prefix, value)] if value.starts_with(prefix) && value.len() <= 64 => {
                return Ok(match *field {
                    "productId" => Target::Product(value.clone()),
                    "tierId" => Target::Tier(value.clone()),
                    _ => Target::Asset(value.clone()),
                });
            }
            [(field, prefix, _)] => {
                errors.insert(
                    (*field).to_owned(),
                    vec![format!("must be an id starting with {prefix}")],
                );
            }
            _ => {
                errors.insert(
                    "body".to_owned(),
                    vec!["name exactly one of productId, tierId or assetId".to_owned()],
                );
            }
        }
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new("a-development-download-key-32-bytes").unwrap()
    }

    fn claims() -> DownloadClaims {
        DownloadClaims {
            project_id: "prj_a".into(),
            end_user_id: "cus_1".into(),
            entitlement_id: "ent_1".into(),
            asset_id: "ast_1".into(),
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let token = sign(&key(), &claims());
        assert!(token.starts_with("dlt_"));
        assert_eq!(verify(&key(), &token, 999), Ok(claims()));
        assert_eq!(verify(&key(), &token, 1_000), Err(DownloadRefusal::Expired));
    }

    #[test]
    fn altered_or_foreign_tokens_are_invalid_whatever_their_expiry() {
        let token = sign(&key(), &claims());
        let (_, signature) = token.split_once('.').unwrap();
        let other_asset = DownloadClaims {
            asset_id: "ast_2".into(),
            ..claims()
        };
        let swapped = format!(
            "dlt_{}.{signature}",
            URL_SAFE_NO_PAD.encode(other_asset.encode())
        );
        let other_key = sign(
            &SigningKey::new("another-development-download-key-32").unwrap(),
            &claims(),
        );
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let unsigned_kind = sign(
            &key(),
            &DownloadClaims {
                entitlement_id: "ord_1".into(),
                ..claims()
            },
        );
        for bad in [
            swapped.as_str(),
            &other_key,
            &flipped,
            &unsigned_kind,
            "dlt_",
            "dlt_x.y",
            "eut_abc.def",
            &"dlt_x".repeat(300),
        ] {
            assert_eq!(
                verify(&key(), bad, 0),
                Err(DownloadRefusal::Invalid),
                "{bad:.40}"
            );
        }
    }

    #[test]
    fn claims_round_trip_and_malformed_payloads_do_not_parse() {
        assert_eq!(DownloadClaims::decode(&claims().encode()), Some(claims()));
        for bad in [
            "",
            "prj_a:cus_1:ent_1:ast_1",
            "prj_a:cus_1:ent_1:ast_1:1000:extra",
            "prj_a:cus_1:ent_1:ast_1:soon",
            "prj_a::ent_1:ast_1:1000",
            "prj a:cus_1:ent_1:ast_1:1000",
        ] {
            assert_eq!(DownloadClaims::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_key_must_be_long_and_never_prints() {
        assert!(SigningKey::new("short").is_none());
        assert_eq!(format!("{:?}", key()), "SigningKey(…)");
    }

    #[test]
    fn entitlements_are_orders_or_subscriptions_by_prefix() {
        assert_eq!(Grant::of("ent_x"), Some(Grant::Order));
        assert_eq!(Grant::of("subr_x"), Some(Grant::Subscription));
        assert_eq!(Grant::of("ord_x"), None);
    }

    #[test]
    fn a_download_request_names_exactly_one_target() {
        let input = |v: serde_json::Value| serde_json::from_value::<DownloadInput>(v).unwrap();
        assert_eq!(
            input(serde_json::json!({ "productId": "prd_1" })).validate(),
            Ok(Target::Product("prd_1".into()))
        );
        assert_eq!(
            input(serde_json::json!({ "assetId": "ast_1" })).validate(),
            Ok(Target::Asset("ast_1".into()))
        );
        let cases = [
            (serde_json::json!({}), "body"),
            (
                serde_json::json!({ "productId": "prd_1", "tierId": "tier_1" }),
                "body",
            ),
            (serde_json::json!({ "tierId": "prd_1" }), "tierId"),
            (serde_json::json!({ "assetId": "" }), "assetId"),
        ];
        for (body, field) in cases {
            let errors = input(body.clone()).validate().unwrap_err();
            assert!(errors.contains_key(field), "{body}: {errors:?}");
        }
        assert!(
            serde_json::from_value::<DownloadInput>(serde_json::json!({ "orderId": "x" })).is_err()
        );
    }

    #[test]
    fn an_order_entitlement_is_active_or_revoked_and_nothing_else() {
        for (access, word) in [
            (OrderAccess::Active, "active"),
            (OrderAccess::Revoked, "revoked"),
        ] {
            assert_eq!(OrderAccess::parse(word), Some(access));
            assert_eq!(access.as_str(), word);
        }
        for bad in ["", "Active", "trialing", "canceled"] {
            assert_eq!(OrderAccess::parse(bad), None, "{bad}");
        }
    }
}
