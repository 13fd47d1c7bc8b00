//! Per-tenant caps: how many projects one developer, and how many end users, catalog items
//! and assets (by count and by bytes) one project may hold, so a single tenant cannot fill
//! D1 or R2 for everyone. Live projects are paid for and keep no end-user or catalog cap.
//!
//! Each cap has a variable that moves it and a default. A cap is checked with a count before
//! the write: creates that run at the same instant can pass together, so a cap can be
//! exceeded by the number of writes in flight at once. It bounds abuse; it is not a ledger.

/// One per-tenant cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// Live (not deleted) projects of one developer's platform, test and live together.
    ProjectsPerDeveloper,
    /// End users of one test project.
    EndUsersPerTestProject,
    /// Tiers or products (archived ones too) of one test project.
    CatalogItemsPerTestProject,
    /// Live assets of one project.
    AssetsPerProject,
    /// Bytes of live assets of one project.
    AssetBytesPerProject,
}

impl Cap {
    /// The name the error names the cap by.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ProjectsPerDeveloper => "projectsPerDeveloper",
            Self::EndUsersPerTestProject => "endUsersPerTestProject",
            Self::CatalogItemsPerTestProject => "catalogItemsPerTestProject",
            Self::AssetsPerProject => "assetsPerProject",
            Self::AssetBytesPerProject => "assetBytesPerProject",
        }
    }

    /// The variable that sets it.
    #[must_use]
    pub const fn variable(self) -> &'static str {
        match self {
            Self::ProjectsPerDeveloper => "LIMIT_PROJECTS_PER_DEVELOPER",
            Self::EndUsersPerTestProject => "LIMIT_END_USERS_PER_TEST_PROJECT",
            Self::CatalogItemsPerTestProject => "LIMIT_CATALOG_ITEMS_PER_TEST_PROJECT",
            Self::AssetsPerProject => "LIMIT_ASSETS_PER_PROJECT",
            Self::AssetBytesPerProject => "LIMIT_ASSET_BYTES_PER_PROJECT",
        }
    }

    /// The cap when its variable is unset or not a positive whole number.
    #[must_use]
    pub const fn default_max(self) -> u64 {
        match self {
            Self::ProjectsPerDeveloper => 50,
            Self::EndUsersPerTestProject => 1_000,
            Self::CatalogItemsPerTestProject => 100,
            Self::AssetsPerProject => 1_000,
            Self::AssetBytesPerProject => 1 << 30,
        }
    }

    /// The cap from its variable's raw value.
    #[must_use]
    pub fn max(self, raw: Option<&str>) -> u64 {
        raw.and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(self.default_max())
    }

    /// Admits adding `adding` to `held` under `max`.
    ///
    /// # Errors
    /// [`Exceeded`] when the sum would pass `max`.
    pub fn check(self, max: u64, held: u64, adding: u64) -> Result<(), Exceeded> {
        if held.saturating_add(adding) <= max {
            Ok(())
        } else {
            Err(Exceeded { cap: self, max })
        }
    }
}

/// A write refused because it would pass a cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exceeded {
    /// The cap.
    pub cap: Cap,
    /// Its value.
    pub max: u64,
}

impl Exceeded {
    /// The message that is safe to show: what is capped, at what, and the cap's name.
    #[must_use]
    pub fn message(&self) -> String {
        let what = match self.cap {
            Cap::ProjectsPerDeveloper => "projects per developer",
            Cap::EndUsersPerTestProject => "end users in a test project",
            Cap::CatalogItemsPerTestProject => "tiers or products in a test project",
            Cap::AssetsPerProject => "assets per project",
            Cap::AssetBytesPerProject => "bytes of assets per project",
        };
        format!(
            "Limit reached ({}): at most {} {what}. Delete something first.",
            self.cap.name(),
            self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_comes_from_its_variable_or_its_default() {
        let cap = Cap::EndUsersPerTestProject;
        for (raw, want) in [
            (None, 1_000),
            (Some("3"), 3),
            (Some(" 7 "), 7),
            (Some("0"), 1_000),
            (Some("-1"), 1_000),
            (Some("ten"), 1_000),
            (Some(""), 1_000),
        ] {
            assert_eq!(cap.max(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn a_write_is_admitted_up_to_the_cap_and_refused_past_it() {
        let cap = Cap::AssetBytesPerProject;
        for (held, adding, ok) in [
            (0, 10, true),
            (5, 5, true),
            (10, 0, true),
            (6, 5, false),
            (11, 0, false),
            (u64::MAX, 1, false),
        ] {
            assert_eq!(cap.check(10, held, adding).is_ok(), ok, "{held} + {adding}");
        }
    }

    #[test]
    fn the_refusal_names_the_cap_and_its_value() {
        let refusal = Cap::ProjectsPerDeveloper.check(2, 2, 1).unwrap_err();
        assert_eq!(
            refusal.message(),
            "Limit reached (projectsPerDeveloper): at most 2 projects per developer. Delete something first."
        );
    }

    #[test]
    fn every_cap_has_its_own_name_and_variable() {
        let all = [
            Cap::ProjectsPerDeveloper,
            Cap::EndUsersPerTestProject,
            Cap::CatalogItemsPerTestProject,
            Cap::AssetsPerProject,
            Cap::AssetBytesPerProject,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a.variable().starts_with("LIMIT_"));
            for b in &all[i + 1..] {
                assert_ne!(a.name(), b.name());
                assert_ne!(a.variable(), b.variable());
            }
        }
    }
}
