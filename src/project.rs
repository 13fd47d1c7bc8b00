//! Projects: their type and mode (both fixed at creation) and their name rules.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether keys and data belong to Stripe's test or live world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Test mode: never moves real money, always allowed.
    Test,
    /// Live mode.
    Live,
}

impl Mode {
    /// The word used in keys, storage and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Live => "live",
        }
    }

    /// Parses `test` or `live`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "test" => Some(Self::Test),
            "live" => Some(Self::Live),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a project sells; fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectType {
    /// Subscriptions with usage-limited tiers.
    Saas,
    /// One-off products with inventory.
    Store,
}

impl ProjectType {
    /// The word used in storage and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Saas => "saas",
            Self::Store => "store",
        }
    }

    /// Parses `saas` or `store`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "saas" => Some(Self::Saas),
            "store" => Some(Self::Store),
            _ => None,
        }
    }
}

/// A project name: trimmed, 1–100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProjectName(String);

impl ProjectName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Parses a name, saying what is wrong in words fit for a `fieldErrors` entry.
    ///
    /// # Errors
    /// When the trimmed name is empty, too long, or holds control characters.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty");
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 100 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(ProjectName::parse("  My app ").unwrap().as_str(), "My app");
    }

    #[test]
    fn bad_names_are_refused_with_a_reason() {
        let long = "x".repeat(101);
        let huge = "x".repeat(10 * 1024);
        for (raw, reason) in [
            ("", "must not be empty"),
            ("   ", "must not be empty"),
            (long.as_str(), "must be at most 100 characters"),
            (huge.as_str(), "must be at most 100 characters"),
            ("a\nb", "must not contain control characters"),
            ("a\u{0}b", "must not contain control characters"),
        ] {
            assert_eq!(ProjectName::parse(raw), Err(reason), "{raw:?}");
        }
    }

    #[test]
    fn a_hundred_characters_of_any_script_are_fine() {
        assert!(ProjectName::parse(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn modes_and_types_round_trip_and_refuse_other_words() {
        for mode in [Mode::Test, Mode::Live] {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
        }
        for kind in [ProjectType::Saas, ProjectType::Store] {
            assert_eq!(ProjectType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Mode::parse("Test"), None);
        assert_eq!(ProjectType::parse("membership"), None);
    }
}
