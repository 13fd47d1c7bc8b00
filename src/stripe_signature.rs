//! Stripe's webhook signature, `Stripe-Signature: t=<unix seconds>,v1=<hex>`: signing (the
//! sandbox's deliveries) and verification (the webhooks worker).
//!
//! The signed text is `"{t}.{payload}"` under HMAC-SHA256, keyed with the endpoint secret
//! exactly as written (`whsec_…`, all of it). Verification accepts several `v1` entries (Stripe
//! sends one per active secret while a secret rolls) and several secrets of our own (rotation),
//! ignores schemes it does not know (`v0`), compares in constant time, and refuses timestamps
//! further than the tolerance from now in either direction, so a captured delivery cannot be
//! replayed later.
//!
//! Each of our secrets belongs to one Stripe endpoint, and an endpoint to one mode. A delivery
//! is authentic for the modes whose secrets matched, and its event must be of one of them: a
//! test secret (the one most often copied to laptops and staging) can never vouch for a
//! `livemode: true` event, nor a live secret for a `livemode: false` one.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

/// Stripe's default tolerance (5 minutes).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a `Stripe-Signature` header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// Not a list of `key=value` entries with exactly one integer `t`.
    MalformedHeader,
    /// The header carries no `v1` entry.
    NoSignatures,
    /// The signed timestamp is further from now than the tolerance.
    OutsideTolerance,
    /// No `v1` entry matches the payload under any of the secrets.
    NoMatch,
    /// It matched only secrets of the other mode than the event's `livemode`.
    ModeMismatch,
}

impl SignatureError {
    /// A message that is safe to show.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Self::MalformedHeader => {
                "The Stripe-Signature header is malformed: expected t=<unix seconds>,v1=<hex>."
            }
            Self::NoSignatures => "The Stripe-Signature header has no v1 signature.",
            Self::OutsideTolerance => "The signature's timestamp is outside the tolerance.",
            Self::NoMatch => "No signature matches the payload under the signing secret.",
            Self::ModeMismatch => {
                "The event's livemode does not match the mode of the secret that signed it."
            }
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for SignatureError {}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The header Stripe would send for `payload` signed with `secret` at `timestamp` (Unix
/// seconds): `t=<timestamp>,v1=<hex>`.
#[must_use]
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let digest = mac(secret, timestamp, payload).finalize().into_bytes();
    let mut header = format!("t={timestamp},v1=");
    for byte in digest {
        header.push(char::from(HEX[usize::from(byte >> 4)]));
        header.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    header
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// The parts of a header that matter: its one timestamp and its `v1` signatures.
fn parse(header: &str) -> Result<(i64, Vec<&str>), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for entry in header.split(',') {
        let (key, value) = entry
            .trim()
            .split_once('=')
            .ok_or(SignatureError::MalformedHeader)?;
        match key {
            "t" if timestamp.is_none() => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::MalformedHeader)?;
                timestamp = Some(t);
            }
            // Two timestamps would leave it open which one was signed.
            "t" => return Err(SignatureError::MalformedHeader),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::MalformedHeader)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignatures);
    }
    Ok((timestamp, signatures))
}

/// Verifies `header` over the raw `payload` against any of `secrets` at `now_secs`, allowing
/// `tolerance_secs` of clock difference (0 turns the time check off). Answers the signed
/// timestamp.
///
/// The signature is checked before the time, as Stripe's libraries do, so an old but genuine
/// delivery is reported as old rather than as forged.
///
/// # Errors
/// Why the header was refused (see [`SignatureError`]).
pub fn verify(
    header: &str,
    payload: &[u8],
    secrets: &[&str],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let (timestamp, signatures) = parse(header)?;
    let candidates: Vec<Vec<u8>> = signatures.iter().filter_map(|s| unhex(s)).collect();
    if !secrets
        .iter()
        .any(|secret| signed_with(secret, timestamp, payload, &candidates))
    {
        return Err(SignatureError::NoMatch);
    }
    if tolerance_secs > 0 && now_secs.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::OutsideTolerance);
    }
    Ok(timestamp)
}

fn signed_with(secret: &str, timestamp: i64, payload: &[u8], candidates: &[Vec<u8>]) -> bool {
    let expected = mac(secret, timestamp, payload);
    // `verify_slice` compares in constant time.
    candidates
        .iter()
        .any(|candidate| expected.clone().verify_slice(candidate).is_ok())
}

/// One of our signing secrets, and the mode of the Stripe endpoint it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct ModeSecret<'a> {
    /// The `whsec_…` value.
    pub secret: &'a str,
    /// Whether it is a live-mode endpoint's.
    pub livemode: bool,
}

/// A verified delivery: its timestamp and the modes whose secrets signed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The signed timestamp (Unix seconds).
    pub timestamp: i64,
    test: bool,
    live: bool,
}

impl Verified {
    /// Whether a secret of the event's mode signed it (checked once the verified payload is
    /// parsed and its `livemode` known).
    ///
    /// # Errors
    /// [`SignatureError::ModeMismatch`] when only the other mode's secrets did.
    pub const fn admits(&self, livemode: bool) -> Result<(), SignatureError> {
        if (livemode && self.live) || (!livemode && self.test) {
            Ok(())
        } else {
            Err(SignatureError::ModeMismatch)
        }
    }
}

/// Like [`verify`], with secrets that each belong to a mode; answers which modes signed.
///
/// # Errors
/// Why the header was refused (see [`SignatureError`]).
pub fn verify_modes(
    header: &str,
    payload: &[u8],
    secrets: &[ModeSecret<'_>],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<Verified, SignatureError> {
    let (timestamp, signatures) = parse(header)?;
    let candidates: Vec<Vec<u8>> = signatures.iter().filter_map(|s| unhex(s)).collect();
    let signed = |live: bool| {
        secrets
            .iter()
            .filter(|s| s.livemode == live)
            .any(|s| signed_with(s.secret, timestamp, payload, &candidates))
    };
    let (test, live) = (signed(false), signed(true));
    if !test && !live {
        return Err(SignatureError::NoMatch);
    }
    if tolerance_secs > 0 && now_secs.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::OutsideTolerance);
    }
    Ok(Verified {
        timestamp,
        test,
        live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const PAYLOAD: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_signature_is_the_hex_hmac_of_timestamp_dot_payload() {
        // Computed independently with Python's hmac module over
        // '1800000000.{"id":"evt_1","object":"event"}' keyed with the whole secret.
        let expected =
            "t=1800000000,v1=d0ffffa7434b9a227ebe60bf97ad6137fbc31cbd39613e1ac0e4bc924c41fde7";

        assert_eq!(sign(SECRET, NOW, PAYLOAD), expected);
    }

    #[test]
    fn a_secret_vouches_only_for_events_of_its_own_mode() {
        const TEST: &str = "whsec_test_endpoint";
        const LIVE: &str = "whsec_live_endpoint";
        let secrets = [
            ModeSecret {
                secret: TEST,
                livemode: false,
            },
            ModeSecret {
                secret: LIVE,
                livemode: true,
            },
        ];
        let cases: &[(&str, bool, Result<(), SignatureError>)] = &[
            (TEST, false, Ok(())),
            (LIVE, true, Ok(())),
            (TEST, true, Err(SignatureError::ModeMismatch)),
            (LIVE, false, Err(SignatureError::ModeMismatch)),
        ];
        for (signer, livemode, expected) in cases {
            let header = sign(signer, NOW, PAYLOAD);

            let verified = verify_modes(&header, PAYLOAD, &secrets, NOW, 300)
                .unwrap_or_else(|e| panic!("{signer}: {e}"));

            assert_eq!(verified.timestamp, NOW);
            assert_eq!(
                verified.admits(*livemode),
                *expected,
                "{signer} livemode={livemode}"
            );
        }
    }

    #[test]
    fn one_secret_configured_for_both_modes_vouches_for_both() {
        let secrets = [
            ModeSecret {
                secret: SECRET,
                livemode: false,
            },
            ModeSecret {
                secret: SECRET,
                livemode: true,
            },
        ];
        let verified = verify_modes(&sign(SECRET, NOW, PAYLOAD), PAYLOAD, &secrets, NOW, 300);

        assert_eq!(verified.map(|v| v.admits(true)), Ok(Ok(())));
        assert_eq!(verified.map(|v| v.admits(false)), Ok(Ok(())));
    }

    #[test]
    fn mode_bound_verification_still_refuses_what_plain_verification_refuses() {
        let secrets = [ModeSecret {
            secret: SECRET,
            livemode: false,
        }];
        let cases: &[(String, SignatureError)] = &[
            (sign("whsec_other", NOW, PAYLOAD), SignatureError::NoMatch),
            (
                sign(SECRET, NOW - 301, PAYLOAD),
                SignatureError::OutsideTolerance,
            ),
            ("v1=abc".to_owned(), SignatureError::MalformedHeader),
            (format!("t={NOW}"), SignatureError::NoSignatures),
        ];
        for (header, expected) in cases {
            assert_eq!(
                verify_modes(header, PAYLOAD, &secrets, NOW, 300),
                Err(*expected),
                "{header}"
            );
        }
    }

    #[test]
    fn what_sign_produces_verifies() {
        let header = sign(SECRET, NOW, PAYLOAD);

        assert_eq!(verify(&header, PAYLOAD, &[SECRET], NOW, 300), Ok(NOW));
    }

    #[test]
    fn any_of_several_v1_entries_may_match() {
        let good = sign(SECRET, NOW, PAYLOAD);
        let good_v1 = good.split(",v1=").nth(1).unwrap();
        let other = sign("whsec_other", NOW, PAYLOAD);
        let other_v1 = other.split(",v1=").nth(1).unwrap();
        let header = format!("t={NOW},v1={other_v1},v0=abc,v1={good_v1}");

        assert_eq!(verify(&header, PAYLOAD, &[SECRET], NOW, 300), Ok(NOW));
    }

    #[test]
    fn any_of_several_secrets_may_match_so_secrets_can_rotate() {
        let header = sign("whsec_new", NOW, PAYLOAD);

        assert_eq!(
            verify(&header, PAYLOAD, &["whsec_old", "whsec_new"], NOW, 300),
            Ok(NOW)
        );
    }

    #[test]
    fn a_tampered_payload_or_another_secret_does_not_match() {
        let header = sign(SECRET, NOW, PAYLOAD);

        assert_eq!(
            verify(&header, b"{\"id\":\"evt_2\"}", &[SECRET], NOW, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&header, PAYLOAD, &["whsec_wrong"], NOW, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&header, PAYLOAD, &[], NOW, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn timestamps_beyond_the_tolerance_either_way_are_refused() {
        let old = sign(SECRET, NOW - 301, PAYLOAD);
        let future = sign(SECRET, NOW + 301, PAYLOAD);
        let edge = sign(SECRET, NOW - 300, PAYLOAD);

        assert_eq!(
            verify(&old, PAYLOAD, &[SECRET], NOW, 300),
            Err(SignatureError::OutsideTolerance)
        );
        assert_eq!(
            verify(&future, PAYLOAD, &[SECRET], NOW, 300),
            Err(SignatureError::OutsideTolerance)
        );
        assert_eq!(verify(&edge, PAYLOAD, &[SECRET], NOW, 300), Ok(NOW - 300));
        assert_eq!(verify(&old, PAYLOAD, &[SECRET], NOW, 0), Ok(NOW - 301));
    }

    #[test]
    fn a_timestamp_change_breaks_the_signature() {
        let header = sign(SECRET, NOW, PAYLOAD);
        let moved = header.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);

        assert_eq!(
            verify(&moved, PAYLOAD, &[SECRET], NOW, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused_with_the_reason() {
        let v1 = sign(SECRET, NOW, PAYLOAD);
        let v1 = v1.split(",v1=").nth(1).unwrap();
        let cases = [
            ("", SignatureError::MalformedHeader, "empty"),
            ("garbage", SignatureError::MalformedHeader, "no key=value"),
            (
                &format!("v1={v1}"),
                SignatureError::MalformedHeader,
                "no timestamp",
            ),
            (
                &format!("t=soon,v1={v1}"),
                SignatureError::MalformedHeader,
                "timestamp not a number",
            ),
            (
                &format!("t={NOW},t={NOW},v1={v1}"),
                SignatureError::MalformedHeader,
                "two timestamps",
            ),
            (
                &format!("t={NOW}"),
                SignatureError::NoSignatures,
                "no signature",
            ),
            (
                &format!("t={NOW},v0={v1}"),
                SignatureError::NoSignatures,
                "only an unknown scheme",
            ),
            (
                &format!("t={NOW},v1=zz"),
                SignatureError::NoMatch,
                "signature not hex",
            ),
            (
                &format!("t={NOW},v1={}", &v1[..63]),
                SignatureError::NoMatch,
                "odd-length hex",
            ),
            (
                &format!("t={NOW},v1="),
                SignatureError::NoMatch,
                "empty signature",
            ),
        ];
        for (header, expected, why) in cases {
            assert_eq!(
                verify(header, PAYLOAD, &[SECRET], NOW, 300),
                Err(expected),
                "{why}: {header:?}"
            );
        }
    }

    #[test]
    fn spaces_around_entries_are_tolerated() {
        let header = sign(SECRET, NOW, PAYLOAD).replace(',', ", ");

        assert_eq!(verify(&header, PAYLOAD, &[SECRET], NOW, 300), Ok(NOW));
    }
}
