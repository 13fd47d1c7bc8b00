//! No access before money: the limits that keep one buyer (or one script holding only the
//! publishable key) from reserving a store's stock or its checkout machinery, who a guest
//! is, and the per-session secret that lets a guest read its own checkout.
//!
//! A project's limits are a JSON object in `projects.checkout_limits`; a key left out takes
//! the default here, so a new limit needs no migration. Who a guest is comes from a keyed
//! hash (the pepper, never stored next to it) of what the guest itself sends: its email and
//! client address. Neither is stored in the clear.

use crate::console::FieldErrors;
use crate::keys::{Pepper, hex};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// A project's checkout limits, each with its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutLimits {
    /// Units of one product one buyer may hold in open carts at once.
    pub units_per_product: i64,
    /// Units one buyer may hold in open carts at once, all products together.
    pub units_per_buyer: i64,
    /// Open guest carts (publishable key, no end user) the project keeps at once.
    pub guest_carts: i64,
    /// Guest carts one client address may open per minute.
    pub guest_carts_per_minute: i64,
    /// Event streams open at once on one checkout session.
    pub streams_per_session: i64,
    /// Seconds an event stream stays open without news before it ends.
    pub stream_idle_seconds: i64,
}

impl Default for CheckoutLimits {
    fn default() -> Self {
        Self {
            units_per_product: 10,
            units_per_buyer: 50,
            guest_carts: 200,
            guest_carts_per_minute: 10,
            streams_per_session: 3,
            stream_idle_seconds: 300,
        }
    }
}

/// Each limit's name (as the API spells it) and its bounds.
const BOUNDS: [(&str, i64, i64); 6] = [
    ("unitsPerProduct", 1, 99),
    ("unitsPerBuyer", 1, 1980),
    ("guestCarts", 1, 100_000),
    ("guestCartsPerMinute", 1, 600),
    ("streamsPerSession", 1, 20),
    ("streamIdleSeconds", 1, 3600),
];

impl CheckoutLimits {
    /// The limits stored in a project's row; a limit missing or not an integer gets its
    /// default. (Read through `serde_json::Value`, which every worker already carries, rather
    /// than a derived struct visitor: the api worker's wasm is at its size budget.)
    #[must_use]
    pub fn from_column(column: &str) -> Self {
        let stored: serde_json::Value = serde_json::from_str(column).unwrap_or_default();
        let mut limits = Self::default();
        for (slot, (name, low, high)) in limits.values().into_iter().zip(BOUNDS) {
            if let Some(v) = stored[name].as_i64().filter(|v| (low..=high).contains(v)) {
                *slot = v;
            }
        }
        limits
    }

    fn values(&mut self) -> [&mut i64; 6] {
        [
            &mut self.units_per_product,
            &mut self.units_per_buyer,
            &mut self.guest_carts,
            &mut self.guest_carts_per_minute,
            &mut self.streams_per_session,
            &mut self.stream_idle_seconds,
        ]
    }
}

/// `checkoutLimits` in `PATCH /v1/projects/{id}`: the limits to change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CheckoutLimitsInput {
    /// See [`CheckoutLimits::units_per_product`].
    pub units_per_product: Option<i64>,
    /// See [`CheckoutLimits::units_per_buyer`].
    pub units_per_buyer: Option<i64>,
    /// See [`CheckoutLimits::guest_carts`].
    pub guest_carts: Option<i64>,
    /// See [`CheckoutLimits::guest_carts_per_minute`].
    pub guest_carts_per_minute: Option<i64>,
    /// See [`CheckoutLimits::streams_per_session`].
    pub streams_per_session: Option<i64>,
    /// See [`CheckoutLimits::stream_idle_seconds`].
    pub stream_idle_seconds: Option<i64>,
}

impl CheckoutLimitsInput {
    /// The project's limits with the sent ones changed.
    ///
    /// # Errors
    /// Every limit outside its bounds, under `checkoutLimits.<name>`.
    pub fn apply(self, current: CheckoutLimits) -> Result<CheckoutLimits, FieldErrors> {
        let sent = [
            self.units_per_product,
            self.units_per_buyer,
            self.guest_carts,
            self.guest_carts_per_minute,
            self.streams_per_session,
            self.stream_idle_seconds,
        ];
        let mut limits = current;
        let mut errors = FieldErrors::new();
        for ((slot, value), (name, low, high)) in limits.values().into_iter().zip(sent).zip(BOUNDS)
        {
            match value {
                Some(v) if (low..=high).contains(&v) => *slot = v,
                Some(_) => {
                    errors.insert(
                        format!("checkoutLimits.{name}"),
                        vec![format!("must be an integer from {low} to {high}")],
                    );
                }
                None => {}
            }
        }
        if errors.is_empty() {
            Ok(limits)
        } else {
            Err(errors)
        }
    }
}

fn tag(pepper: &Pepper, purpose: &[u8], parts: &[&str]) -> Hmac<Sha256> {
    let mut derive = Hmac::<Sha256>::new_from_slice(pepper.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    derive.update(purpose);
    let key = derive.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for part in parts {
        // Length-prefixed, so no two lists of parts hash alike.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac
}

/// Who a guest is in one project, for its `Idempotency-Key` space: the email it gave
/// (case-folded) and its client address, hashed. Two guests who pick the same key never
/// meet; one guest retrying from the same address does.
#[must_use]
pub fn guest_id(pepper: &Pepper, project_id: &str, email: Option<&str>, client: &str) -> String {
    let email = email.map(str::to_ascii_lowercase).unwrap_or_default();
    let digest = tag(pepper, b"tollgate guest\0", &[project_id, &email, client]);
    format!("guest_{}", &hex(&digest.finalize().into_bytes())[..32])
}

/// The client address of a guest cart as stored: a keyed hash scoped to the project, so
/// holds can be counted per address without keeping the address.
#[must_use]
pub fn client_key(pepper: &Pepper, project_id: &str, client: &str) -> String {
    let digest = tag(pepper, b"tollgate client\0", &[project_id, client]);
    hex(&digest.finalize().into_bytes())[..32].to_owned()
}

/// The secret handed to the guest who opened a cart session (never stored: derived again
/// when presented). With the publishable key it opens the session's full status, its event
/// stream and its reconcile, which the bare session id — it travels in success URLs and
/// `Referer` headers — no longer does.
#[must_use]
pub fn session_secret(pepper: &Pepper, session_id: &str) -> String {
    let digest = tag(pepper, b"tollgate checkout session\0", &[session_id]);
    format!("css_{}", hex(&digest.finalize().into_bytes()))
}

/// Whether `presented` has a session secret's form (`css_` and 64 lower-case hex digits),
/// whichever session it would open.
#[must_use]
pub fn is_session_secret(presented: &str) -> bool {
    presented.strip_prefix("css_").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Whether `presented` is the session's secret, compared in constant time.
#[must_use]
pub fn session_secret_matches(pepper: &Pepper, session_id: &str, presented: &str) -> bool {
    let Some(bytes) = presented
        .strip_prefix("css_")
        .and_then(crate::internal::decode_hex)
    else {
        return false;
    };
    tag(pepper, b"tollgate checkout session\0", &[session_id])
        .verify_slice(&bytes)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_css_and_sixty_four_lower_case_hex_digits_have_a_session_secrets_form() {
        let good = format!("css_{}", "0a".repeat(32));
        for (presented, want) in [
            (good.as_str(), true),
            ("css_", false),
            ("css_zz", false),
            (&good[..good.len() - 1], false),
            (&good.to_uppercase().replace("CSS_", "css_"), false),
            (&good.replace("css_", "xyz_"), false),
        ] {
            assert_eq!(is_session_secret(presented), want, "{presented}");
        }
    }

    fn pepper() -> Pepper {
        Pepper::new("a pepper long enough for the tests, 32+ bytes").expect("long enough")
    }

    #[test]
    fn a_project_without_settings_gets_the_defaults() {
        assert_eq!(CheckoutLimits::from_column("{}"), CheckoutLimits::default());
        assert_eq!(
            CheckoutLimits::from_column("not json"),
            CheckoutLimits::default()
        );
        let some = CheckoutLimits::from_column(r#"{"unitsPerProduct":3,"guestCarts":0}"#);
        assert_eq!(some.units_per_product, 3);
        assert_eq!(
            some.guest_carts, 200,
            "a stored value out of bounds is not trusted"
        );
        assert_eq!(
            some.units_per_buyer,
            CheckoutLimits::default().units_per_buyer
        );
    }

    #[test]
    fn only_the_sent_limits_change_and_each_stays_in_bounds() {
        let input = CheckoutLimitsInput {
            units_per_buyer: Some(5),
            stream_idle_seconds: Some(1),
            ..CheckoutLimitsInput::default()
        };

        let limits = input.apply(CheckoutLimits::default()).expect("in bounds");

        assert_eq!(limits.units_per_buyer, 5);
        assert_eq!(limits.stream_idle_seconds, 1);
        assert_eq!(limits.units_per_product, 10);
    }

    #[test]
    fn a_limit_out_of_bounds_is_refused_by_name() {
        let cases = [
            (
                CheckoutLimitsInput {
                    units_per_product: Some(0),
                    ..Default::default()
                },
                "checkoutLimits.unitsPerProduct",
            ),
            (
                CheckoutLimitsInput {
                    units_per_product: Some(100),
                    ..Default::default()
                },
                "checkoutLimits.unitsPerProduct",
            ),
            (
                CheckoutLimitsInput {
                    guest_carts: Some(-1),
                    ..Default::default()
                },
                "checkoutLimits.guestCarts",
            ),
            (
                CheckoutLimitsInput {
                    streams_per_session: Some(21),
                    ..Default::default()
                },
                "checkoutLimits.streamsPerSession",
            ),
            (
                CheckoutLimitsInput {
                    stream_idle_seconds: Some(0),
                    ..Default::default()
                },
                "checkoutLimits.streamIdleSeconds",
            ),
        ];
        for (input, field) in cases {
            let errors = input.apply(CheckoutLimits::default()).expect_err(field);
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
    }

    #[test]
    fn two_guests_with_the_same_key_get_different_spaces_and_one_guest_keeps_its_own() {
        let p = pepper();
        let ada = guest_id(&p, "prj_1", Some("ada@example.test"), "203.0.113.1");
        let bob = guest_id(&p, "prj_1", Some("bob@example.test"), "203.0.113.1");
        let elsewhere = guest_id(&p, "prj_1", Some("ada@example.test"), "198.51.100.7");

        assert_ne!(ada, bob);
        assert_ne!(ada, elsewhere);
        assert_eq!(
            ada,
            guest_id(&p, "prj_1", Some("ADA@example.test"), "203.0.113.1")
        );
        assert_ne!(
            ada,
            guest_id(&p, "prj_2", Some("ada@example.test"), "203.0.113.1")
        );
        assert!(
            !ada.contains("ada") && !ada.contains("203"),
            "nothing in the clear"
        );
    }

    #[test]
    fn a_session_secret_opens_only_its_own_session() {
        let p = pepper();
        let secret = session_secret(&p, "cs_test_a");

        assert!(session_secret_matches(&p, "cs_test_a", &secret));
        assert!(!session_secret_matches(&p, "cs_test_b", &secret));
        for bad in [
            "",
            "css_",
            "css_zz",
            &secret[..secret.len() - 1],
            &secret.replace("css_", "xyz_"),
        ] {
            assert!(!session_secret_matches(&p, "cs_test_a", bad), "{bad:?}");
        }
    }

    #[test]
    fn client_keys_are_per_project_and_hide_the_address() {
        let p = pepper();
        let key = client_key(&p, "prj_1", "203.0.113.1");

        assert_ne!(key, client_key(&p, "prj_2", "203.0.113.1"));
        assert_eq!(key.len(), 32);
        assert!(!key.contains("203"));
    }
}
