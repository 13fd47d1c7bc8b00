//! The catalog a developer sells: SaaS tiers and Store products, their inputs validated into
//! complete specs, and the rules for changing them (one free tier; price changes need a new
//! Stripe price).
//!
//! Create and edit share one path: an edit overlays its fields on the current spec and the
//! result is validated whole, so no sequence of edits can reach a state a create would refuse.

use crate::console::FieldErrors;
use serde::Deserialize;
use serde_json::Value;

fn field_error(errors: &mut FieldErrors, field: &str, reason: &str) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(reason.to_owned());
}

/// The most any price may be, in minor units (Stripe's own ceiling is 99,999,999).
pub const MAX_PRICE: i64 = 99_999_999;
const MAX_FEATURES: usize = 30;

/// How often a tier bills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    /// Monthly.
    Month,
    /// Yearly.
    Year,
}

impl Interval {
    /// The wire and column spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// Parses `month` or `year`.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "month" => Some(Self::Month),
            "year" => Some(Self::Year),
            _ => None,
        }
    }
}

/// A validated tier: everything a row and a Stripe price need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierSpec {
    /// The slug end users' plans refer to; fixed at creation.
    pub name: String,
    /// Shown to buyers.
    pub display_name: String,
    /// Shown to buyers.
    pub description: Option<String>,
    /// Minor units per interval; 0 is the free tier.
    pub price: i64,
    /// Lower-case ISO code.
    pub currency: String,
    /// Billing interval.
    pub interval: Interval,
    /// Units per period; `None` is unlimited.
    pub limit: Option<i64>,
    /// Bullet points.
    pub features: Vec<String>,
    /// Highlighted on pricing pages.
    pub popular: bool,
    /// Free days before the first charge.
    pub trial_days: i64,
    /// Shown to buyers.
    pub image_url: Option<String>,
    /// Display order (ascending).
    pub sort_order: i64,
    /// The private asset an active or trialing subscriber may download (`ast_…`).
    pub asset_id: Option<String>,
}

impl TierSpec {
    /// Whether this is the project's free tier (no Stripe price, the default plan).
    #[must_use]
    pub const fn is_free(&self) -> bool {
        self.price == 0
    }

    /// Whether moving from `self` to `next` needs a new Stripe price (Stripe prices are
    /// immutable) and whether the Stripe product's text changes.
    #[must_use]
    pub fn changes_to(&self, next: &Self) -> StripeChanges {
        StripeChanges {
            new_price: (self.price, &self.currency, self.interval)
                != (next.price, &next.currency, next.interval),
            product_text: (&self.display_name, &self.description)
                != (&next.display_name, &next.description),
        }
    }
}

/// A validated Store product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductSpec {
    /// The slug; fixed at creation.
    pub name: String,
    /// Shown to buyers.
    pub display_name: String,
    /// Shown to buyers.
    pub description: Option<String>,
    /// Minor units; at least 1.
    pub price: i64,
    /// Lower-case ISO code.
    pub currency: String,
    /// Bullet points.
    pub features: Vec<String>,
    /// Shown to buyers.
    pub image_url: Option<String>,
    /// Units in stock; `None` is unlimited.
    pub inventory: Option<i64>,
    /// Display order (ascending).
    pub sort_order: i64,
    /// The private asset a buyer may download (`ast_…`).
    pub asset_id: Option<String>,
}

impl ProductSpec {
    /// What moving to `next` changes on Stripe.
    #[must_use]
    pub fn changes_to(&self, next: &Self) -> StripeChanges {
        StripeChanges {
            new_price: (self.price, &self.currency) != (next.price, &next.currency),
            product_text: (&self.display_name, &self.description)
                != (&next.display_name, &next.description),
        }
    }
}

/// What an edit changes on Stripe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StripeChanges {
    /// A new price replaces (and archives) the old one.
    pub new_price: bool,
    /// The product's name or description is updated.
    pub product_text: bool,
}

/// A rule of the catalog an otherwise valid change breaks (answered 409).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatalogRule {
    /// The free tier stays free; a paid tier never becomes free.
    FreeTierLocked,
}

/// Checks a tier edit against the free-tier rule.
///
/// # Errors
/// [`CatalogRule::FreeTierLocked`] when the edit turns the free tier paid or a paid one free.
pub const fn check_tier_edit(current: &TierSpec, next: &TierSpec) -> Result<(), CatalogRule> {
    if current.is_free() == next.is_free() {
        Ok(())
    } else {
        Err(CatalogRule::FreeTierLocked)
    }
}

/// `POST` and `PATCH` bodies for tiers. On `PATCH`, absent fields keep their value and
/// `updatedAt` is required.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TierInput {
    /// Slug (create only).
    pub name: Option<String>,
    /// Shown to buyers.
    pub display_name: Option<String>,
    /// Empty clears it.
    pub description: Option<String>,
    /// Minor units.
    pub price: Option<i64>,
    /// ISO code.
    pub currency: Option<String>,
    /// `month` or `year`.
    pub interval: Option<String>,
    /// A number or `"unlimited"` (also `null`).
    #[serde(default, deserialize_with = "present")]
    pub limit: Option<Value>,
    /// Bullet points.
    pub features: Option<Vec<String>>,
    /// Highlighted.
    pub popular: Option<bool>,
    /// Free days.
    pub trial_days: Option<i64>,
    /// Empty clears it.
    pub image_url: Option<String>,
    /// Display order.
    pub sort_order: Option<i64>,
    /// The private asset to deliver (`ast_…`); `null` or empty detaches it.
    #[serde(default, deserialize_with = "present")]
    pub asset_id: Option<Value>,
    /// The `updatedAt` last read (edits only).
    pub updated_at: Option<i64>,
}

/// `POST` and `PATCH` bodies for products.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProductInput {
    /// Slug (create only).
    pub name: Option<String>,
    /// Shown to buyers.
    pub display_name: Option<String>,
    /// Empty clears it.
    pub description: Option<String>,
    /// Minor units.
    pub price: Option<i64>,
    /// ISO code.
    pub currency: Option<String>,
    /// Bullet points.
    pub features: Option<Vec<String>>,
    /// Empty clears it.
    pub image_url: Option<String>,
    /// Units in stock: a number, or `null` for unlimited.
    #[serde(default, deserialize_with = "present")]
    pub inventory: Option<Value>,
    /// Display order.
    pub sort_order: Option<i64>,
    /// The private asset to deliver (`ast_…`); `null` or empty detaches it.
    #[serde(default, deserialize_with = "present")]
    pub asset_id: Option<Value>,
    /// The `updatedAt` last read (edits only).
    pub updated_at: Option<i64>,
}

/// Keeps an explicit `null` as `Some(Value::Null)` so it differs from an absent field.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// `POST …/archive`: the `updatedAt` last read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ArchiveInput {
    /// The `updatedAt` last read.
    pub updated_at: i64,
}

/// Slugs: lower-case letters, digits, `-` and `_`, starting with a letter or digit, ≤ 40.
fn slug(errors: &mut FieldErrors, raw: &str) -> String {
    let ok = !raw.is_empty()
        && raw.len() <= 40
        && raw.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'-' || b == b'_'))
        });
    if !ok {
        field_error(
            errors,
            "name",
            "must be 1–40 lower-case letters, digits, - or _, starting with a letter or digit",
        );
    }
    raw.to_owned()
}

fn text(errors: &mut FieldErrors, field: &str, raw: &str, max: usize) -> String {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.chars().any(char::is_control)
    {
        field_error(
            errors,
            field,
            &format!("must be 1–{max} characters without control characters"),
        );
    }
    trimmed.to_owned()
}

fn optional_text(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<String>,
    max: usize,
) -> Option<String> {
    let raw = raw?;
    if raw.trim().is_empty() {
        return None;
    }
    Some(text(errors, field, &raw, max))
}

fn currency(errors: &mut FieldErrors, raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    if lower.len() != 3 || !lower.bytes().all(|b| b.is_ascii_lowercase()) {
        field_error(
            errors,
            "currency",
            "must be a three-letter ISO currency code",
        );
    }
    lower
}

fn price(errors: &mut FieldErrors, raw: i64, min: i64) -> i64 {
    if !(min..=MAX_PRICE).contains(&raw) {
        field_error(
            errors,
            "price",
            &format!("must be whole minor units from {min} to {MAX_PRICE}"),
        );
    }
    raw
}

fn features(errors: &mut FieldErrors, raw: &[String]) -> Vec<String> {
    if raw.len() > MAX_FEATURES {
        field_error(
            errors,
            "features",
            &format!("must have at most {MAX_FEATURES} entries"),
        );
    }
    raw.iter()
        .map(|f| text(errors, "features", f, 120))
        .collect()
}

fn image_url(errors: &mut FieldErrors, raw: Option<String>) -> Option<String> {
    let raw = raw?;
    if raw.is_empty() {
        return None;
    }
    let ok = raw.len() <= 2048
        && (raw.starts_with("https://") || raw.starts_with("http://"))
        && !raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    if !ok {
        field_error(
            errors,
            "imageUrl",
            "must be an http(s) URL of at most 2048 characters",
        );
    }
    Some(raw)
}

fn count(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<Value>,
    current: Option<i64>,
    unlimited_word: bool,
) -> Option<i64> {
    match raw {
        None => current,
        Some(Value::Null) => None,
        Some(Value::String(word)) if unlimited_word && word == "unlimited" => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (0..=1_000_000_000_000).contains(&v) => Some(v),
            _ => {
                field_error(errors, field, "must be a whole number from 0 to 10^12");
                current
            }
        },
        Some(_) => {
            let what = if unlimited_word {
                "a whole number or \"unlimited\""
            } else {
                "a whole number or null"
            };
            field_error(errors, field, &format!("must be {what}"));
            current
        }
    }
}

fn sort_order(errors: &mut FieldErrors, raw: Option<i64>, current: i64) -> i64 {
    let value = raw.unwrap_or(current);
    if !(-1_000_000..=1_000_000).contains(&value) {
        field_error(errors, "sortOrder", "must be between -1000000 and 1000000");
    }
    value
}

/// `assetId`: absent keeps the current one, `null` or `""` detaches it, otherwise an
/// `ast_…` id. Whether it names a private asset of the project is checked against storage.
fn asset_id(
    errors: &mut FieldErrors,
    raw: Option<Value>,
    current: Option<&String>,
) -> Option<String> {
    match raw {
        None => current.cloned(),
        Some(Value::Null) => None,
        Some(Value::String(id)) if id.is_empty() => None,
        Some(Value::String(id))
            if id
                .strip_prefix("ast_")
                .is_some_and(|rest| crate::ids::is_base62(rest) && rest.len() <= 40) =>
        {
            Some(id)
        }
        Some(_) => {
            field_error(
                errors,
                "assetId",
                "must be the id of a private asset of this project (ast_…), or null",
            );
            current.cloned()
        }
    }
}

/// Whether the edit names `updatedAt` and keeps the slug.
fn edit_guard(
    errors: &mut FieldErrors,
    name: Option<&str>,
    current: &str,
    updated_at: Option<i64>,
) -> i64 {
    if name.is_some_and(|n| n != current) {
        field_error(
            errors,
            "name",
            "cannot change: it is what end users' plans and orders refer to",
        );
    }
    updated_at.unwrap_or_else(|| {
        field_error(
            errors,
            "updatedAt",
            "is required: send the updatedAt you last read",
        );
        0
    })
}

/// The checks every create shares: a valid slug, the required display name and price, and no
/// `updatedAt`. Returns the errors so far and the slug.
fn new_record(
    name: Option<&str>,
    has_display_name: bool,
    has_price: bool,
    has_updated_at: bool,
) -> (FieldErrors, String) {
    let mut errors = FieldErrors::new();
    let name = match name {
        Some(raw) => slug(&mut errors, raw),
        None => {
            field_error(&mut errors, "name", "is required");
            String::new()
        }
    };
    for (missing, field) in [(!has_display_name, "displayName"), (!has_price, "price")] {
        if missing {
            field_error(&mut errors, field, "is required");
        }
    }
    if has_updated_at {
        field_error(&mut errors, "updatedAt", "is only for edits");
    }
    (errors, name)
}

fn finish<T>(errors: FieldErrors, value: T) -> Result<T, FieldErrors> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

impl TierInput {
    /// Validates a new tier.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn create(self) -> Result<TierSpec, FieldErrors> {
        let (errors, name) = new_record(
            self.name.as_deref(),
            self.display_name.is_some(),
            self.price.is_some(),
            self.updated_at.is_some(),
        );
        let blank = TierSpec {
            name,
            display_name: String::new(),
            description: None,
            price: 0,
            currency: "usd".to_owned(),
            interval: Interval::Month,
            limit: None,
            features: Vec::new(),
            popular: false,
            trial_days: 0,
            image_url: None,
            sort_order: 0,
            asset_id: None,
        };
        self.overlay(errors, &blank)
    }

    /// Validates an edit of `current`; returns the new spec and the `updatedAt` guard.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn edit(self, current: &TierSpec) -> Result<(TierSpec, i64), FieldErrors> {
        let mut errors = FieldErrors::new();
        let guard = edit_guard(
            &mut errors,
            self.name.as_deref(),
            &current.name,
            self.updated_at,
        );
        self.overlay(errors, current).map(|spec| (spec, guard))
    }

    fn overlay(self, mut errors: FieldErrors, base: &TierSpec) -> Result<TierSpec, FieldErrors> {
        let spec = TierSpec {
            name: base.name.clone(),
            display_name: self.display_name.map_or_else(
                || base.display_name.clone(),
                |d| text(&mut errors, "displayName", &d, 80),
            ),
            description: self.description.map_or_else(
                || base.description.clone(),
                |d| optional_text(&mut errors, "description", Some(d), 500),
            ),
            price: self.price.map_or(base.price, |p| price(&mut errors, p, 0)),
            currency: self
                .currency
                .map_or_else(|| base.currency.clone(), |c| currency(&mut errors, &c)),
            interval: match self.interval.as_deref() {
                None => base.interval,
                Some(raw) => Interval::parse(raw).unwrap_or_else(|| {
                    field_error(&mut errors, "interval", "must be month or year");
                    base.interval
                }),
            },
            limit: count(&mut errors, "limit", self.limit, base.limit, true),
            features: self
                .features
                .map_or_else(|| base.features.clone(), |f| features(&mut errors, &f)),
            popular: self.popular.unwrap_or(base.popular),
            trial_days: self.trial_days.unwrap_or(base.trial_days),
            image_url: self.image_url.map_or_else(
                || base.image_url.clone(),
                |u| image_url(&mut errors, Some(u)),
            ),
            sort_order: sort_order(&mut errors, self.sort_order, base.sort_order),
            asset_id: asset_id(&mut errors, self.asset_id, base.asset_id.as_ref()),
        };
        if !(0..=730).contains(&spec.trial_days) {
            field_error(&mut errors, "trialDays", "must be from 0 to 730");
        } else if spec.is_free() && spec.trial_days > 0 {
            field_error(&mut errors, "trialDays", "must be 0 on the free tier");
        }
        finish(errors, spec)
    }
}

impl ProductInput {
    /// Validates a new product.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn create(self) -> Result<ProductSpec, FieldErrors> {
        let (errors, name) = new_record(
            self.name.as_deref(),
            self.display_name.is_some(),
            self.price.is_some(),
            self.updated_at.is_some(),
        );
        let blank = ProductSpec {
            name,
            display_name: String::new(),
            description: None,
            price: 1,
            currency: "usd".to_owned(),
            features: Vec::new(),
            image_url: None,
            inventory: None,
            sort_order: 0,
            asset_id: None,
        };
        self.overlay(errors, &blank)
    }

    /// Validates an edit of `current`; returns the new spec and the `updatedAt` guard.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn edit(self, current: &ProductSpec) -> Result<(ProductSpec, i64), FieldErrors> {
        let mut errors = FieldErrors::new();
        let guard = edit_guard(
            &mut errors,
            self.name.as_deref(),
            &current.name,
            self.updated_at,
        );
        self.overlay(errors, current).map(|spec| (spec, guard))
    }

    fn overlay(
        self,
        mut errors: FieldErrors,
        base: &ProductSpec,
    ) -> Result<ProductSpec, FieldErrors> {
        let spec = ProductSpec {
            name: base.name.clone(),
            display_name: self.display_name.map_or_else(
                || base.display_name.clone(),
                |d| text(&mut errors, "displayName", &d, 80),
            ),
            description: self.description.map_or_else(
                || base.description.clone(),
                |d| optional_text(&mut errors, "description", Some(d), 2000),
            ),
            price: self.price.map_or(base.price, |p| price(&mut errors, p, 1)),
            currency: self
                .currency
                .map_or_else(|| base.currency.clone(), |c| currency(&mut errors, &c)),
            features: self
                .features
                .map_or_else(|| base.features.clone(), |f| features(&mut errors, &f)),
            image_url: self.image_url.map_or_else(
                || base.image_url.clone(),
                |u| image_url(&mut errors, Some(u)),
            ),
            inventory: count(
                &mut errors,
                "inventory",
                self.inventory,
                base.inventory,
                false,
            ),
            sort_order: sort_order(&mut errors, self.sort_order, base.sort_order),
            asset_id: asset_id(&mut errors, self.asset_id, base.asset_id.as_ref()),
        };
        finish(errors, spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tier_input(value: Value) -> TierInput {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    fn pro() -> TierSpec {
        tier_input(json!({ "name": "pro", "displayName": "Pro", "price": 900, "limit": 1000 }))
            .create()
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn a_tier_takes_defaults_for_what_it_does_not_say() {
        let spec = pro();
        assert_eq!(spec.currency, "usd");
        assert_eq!(spec.interval, Interval::Month);
        assert_eq!(spec.limit, Some(1000));
        assert!(!spec.is_free());
    }

    #[test]
    fn bad_tier_inputs_name_each_field() {
        let cases = [
            (json!({ "displayName": "X", "price": 1 }), "name"),
            (
                json!({ "name": "Pro Plan", "displayName": "X", "price": 1 }),
                "name",
            ),
            (
                json!({ "name": "-pro", "displayName": "X", "price": 1 }),
                "name",
            ),
            (json!({ "name": "pro", "price": 1 }), "displayName"),
            (
                json!({ "name": "pro", "displayName": " ", "price": 1 }),
                "displayName",
            ),
            (json!({ "name": "pro", "displayName": "X" }), "price"),
            (
                json!({ "name": "pro", "displayName": "X", "price": -1 }),
                "price",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 100_000_000 }),
                "price",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 1, "currency": "us" }),
                "currency",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 1, "interval": "week" }),
                "interval",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 1, "limit": -5 }),
                "limit",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 1, "limit": "lots" }),
                "limit",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 1, "limit": 1.5 }),
                "limit",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 1, "trialDays": 999 }),
                "trialDays",
            ),
            (
                json!({ "name": "free", "displayName": "X", "price": 0, "trialDays": 7 }),
                "trialDays",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 1, "imageUrl": "javascript:alert(1)" }),
                "imageUrl",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 1, "features": [""] }),
                "features",
            ),
            (
                json!({ "name": "pro", "displayName": "X", "price": 1, "updatedAt": 5 }),
                "updatedAt",
            ),
        ];
        for (body, field) in cases {
            let errors = tier_input(body.clone()).create().err().unwrap_or_default();
            assert!(
                errors.contains_key(field),
                "{body} should fail on {field}: {errors:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused_at_the_boundary() {
        assert!(
            serde_json::from_value::<TierInput>(json!({ "name": "pro", "priceId": "price_x" }))
                .is_err()
        );
    }

    #[test]
    fn an_edit_keeps_absent_fields_and_requires_updated_at() {
        let (next, guard) = tier_input(json!({ "displayName": "Pro+", "updatedAt": 42 }))
            .edit(&pro())
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(guard, 42);
        assert_eq!(next.display_name, "Pro+");
        assert_eq!(next.price, 900);
        assert_eq!(
            pro().changes_to(&next),
            StripeChanges {
                new_price: false,
                product_text: true
            }
        );

        let missing = tier_input(json!({ "price": 1000 }))
            .edit(&pro())
            .err()
            .unwrap_or_default();
        assert!(missing.contains_key("updatedAt"));
        let renamed = tier_input(json!({ "name": "max", "updatedAt": 1 }))
            .edit(&pro())
            .err()
            .unwrap_or_default();
        assert!(renamed.contains_key("name"));
    }

    #[test]
    fn limit_can_be_cleared_to_unlimited_with_the_word_or_null() {
        for clear in [json!("unlimited"), Value::Null] {
            let (next, _) = tier_input(json!({ "limit": clear, "updatedAt": 1 }))
                .edit(&pro())
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(next.limit, None);
        }
    }

    #[test]
    fn a_new_price_is_needed_only_when_amount_currency_or_interval_change() {
        let base = pro();
        for (patch, expected) in [
            (json!({ "price": 1900, "updatedAt": 1 }), true),
            (json!({ "currency": "EUR", "updatedAt": 1 }), true),
            (json!({ "interval": "year", "updatedAt": 1 }), true),
            (
                json!({ "limit": 5, "popular": true, "updatedAt": 1 }),
                false,
            ),
        ] {
            let (next, _) = tier_input(patch.clone())
                .edit(&base)
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(base.changes_to(&next).new_price, expected, "{patch}");
        }
    }

    #[test]
    fn the_free_tier_stays_free_and_paid_tiers_stay_paid() {
        let free = tier_input(json!({ "name": "free", "displayName": "Free", "price": 0 }))
            .create()
            .unwrap_or_else(|e| panic!("{e:?}"));
        let (priced, _) = tier_input(json!({ "price": 500, "updatedAt": 1 }))
            .edit(&free)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let (zeroed, _) = tier_input(json!({ "price": 0, "updatedAt": 1 }))
            .edit(&pro())
            .unwrap_or_else(|e| panic!("{e:?}"));

        assert_eq!(
            check_tier_edit(&free, &priced),
            Err(CatalogRule::FreeTierLocked)
        );
        assert_eq!(
            check_tier_edit(&pro(), &zeroed),
            Err(CatalogRule::FreeTierLocked)
        );
        assert_eq!(check_tier_edit(&free, &free), Ok(()));
    }

    #[test]
    fn an_asset_is_attached_by_id_kept_when_absent_and_detached_with_null() {
        let input =
            |v: Value| serde_json::from_value::<ProductInput>(v).unwrap_or_else(|e| panic!("{e}"));
        let spec = input(
            json!({ "name": "ebook", "displayName": "E", "price": 500, "assetId": "ast_Ab3" }),
        )
        .create()
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(spec.asset_id.as_deref(), Some("ast_Ab3"));
        let (kept, _) = input(json!({ "price": 600, "updatedAt": 1 }))
            .edit(&spec)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(kept.asset_id.as_deref(), Some("ast_Ab3"));
        for detach in [Value::Null, json!("")] {
            let (detached, _) = input(json!({ "assetId": detach, "updatedAt": 1 }))
                .edit(&spec)
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(detached.asset_id, None);
        }
        for bad in [json!("prd_x"), json!("ast_../x"), json!(7)] {
            let errors = input(json!({ "assetId": bad, "updatedAt": 1 }))
                .edit(&spec)
                .err()
                .unwrap_or_default();
            assert!(errors.contains_key("assetId"), "{bad}");
        }
        let tier = tier_input(
            json!({ "name": "pro", "displayName": "Pro", "price": 900, "assetId": "ast_T1" }),
        )
        .create()
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(tier.asset_id.as_deref(), Some("ast_T1"));
    }

    #[test]
    fn products_need_a_positive_price_and_take_null_inventory_as_unlimited() {
        let input =
            |v: Value| serde_json::from_value::<ProductInput>(v).unwrap_or_else(|e| panic!("{e}"));
        let free = input(json!({ "name": "ebook", "displayName": "E", "price": 0 })).create();
        assert!(free.err().unwrap_or_default().contains_key("price"));

        let spec =
            input(json!({ "name": "ebook", "displayName": "E", "price": 500, "inventory": 10 }))
                .create()
                .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(spec.inventory, Some(10));
        let (unlimited, _) = input(json!({ "inventory": null, "updatedAt": 3 }))
            .edit(&spec)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(unlimited.inventory, None);
        let bad = input(json!({ "inventory": "unlimited", "updatedAt": 3 })).edit(&spec);
        assert!(bad.err().unwrap_or_default().contains_key("inventory"));
    }
}
