//! The constraints D1 refuses a write for, read from its error message in this one place, so
//! a handler maps a typed violation to its answer instead of matching error text.
//!
//! SQLite words them `UNIQUE constraint failed: t.a, t.b`, `PRIMARY KEY constraint failed: …`
//! (a `WITHOUT ROWID` table's key), `CHECK constraint failed: …` and `FOREIGN KEY constraint
//! failed`; D1 puts its own prefix in front (`D1_ERROR: `) and may add a suffix
//! (`: SQLITE_CONSTRAINT`).

use crate::ApiError;

/// A constraint a write broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A unique index or primary key, with the `table.column`s it names.
    Unique(Vec<String>),
    /// A CHECK constraint.
    Check,
    /// A foreign key.
    ForeignKey,
}

impl Violation {
    /// The violation a D1 error message reports, if it reports one.
    #[must_use]
    pub fn of(message: &str) -> Option<Self> {
        for marker in [
            "UNIQUE constraint failed: ",
            "PRIMARY KEY constraint failed: ",
        ] {
            if let Some((_, rest)) = message.split_once(marker) {
                return Some(Self::Unique(columns(rest)));
            }
        }
        if message.contains("CHECK constraint failed") {
            return Some(Self::Check);
        }
        message
            .contains("FOREIGN KEY constraint failed")
            .then_some(Self::ForeignKey)
    }

    /// Whether this is a unique violation on an index that covers `column` (`table.column`).
    #[must_use]
    pub fn is_unique_on(&self, column: &str) -> bool {
        matches!(self, Self::Unique(columns) if columns.iter().any(|c| c == column))
    }
}

/// The `table.column` list after the marker, up to D1's suffix.
fn columns(rest: &str) -> Vec<String> {
    rest.split(", ")
        .map(|part| {
            part.split(|c: char| c.is_whitespace() || c == ':')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|column| !column.is_empty())
        .collect()
}

impl ApiError {
    /// The constraint a failed write broke, when that is why it failed.
    #[must_use]
    pub fn violation(&self) -> Option<Violation> {
        match self {
            Self::Internal { cause } => Violation::of(cause),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_constraint_message_d1_sends_reads_as_its_violation() {
        let unique = |columns: &[&str]| {
            Some(Violation::Unique(
                columns.iter().map(|c| (*c).to_owned()).collect(),
            ))
        };
        let cases = [
            (
                "D1_ERROR: UNIQUE constraint failed: stripe_events.id: SQLITE_CONSTRAINT",
                unique(&["stripe_events.id"]),
            ),
            (
                "D1_ERROR: UNIQUE constraint failed: tiers.project_id, tiers.name",
                unique(&["tiers.project_id", "tiers.name"]),
            ),
            (
                "Error: D1_ERROR: PRIMARY KEY constraint failed: inventory_reservations.order_id, inventory_reservations.product_id",
                unique(&[
                    "inventory_reservations.order_id",
                    "inventory_reservations.product_id",
                ]),
            ),
            (
                "D1_ERROR: CHECK constraint failed: inventory >= 0: SQLITE_CONSTRAINT",
                Some(Violation::Check),
            ),
            (
                "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT",
                Some(Violation::ForeignKey),
            ),
            ("D1_ERROR: no such table: projects: SQLITE_ERROR", None),
            ("D1_ERROR: Network connection lost.", None),
            ("", None),
        ];
        for (message, violation) in cases {
            assert_eq!(Violation::of(message), violation, "{message}");
        }
    }

    #[test]
    fn a_unique_violation_is_on_a_column_only_when_its_index_names_it() {
        let violation =
            Violation::of("D1_ERROR: UNIQUE constraint failed: tiers.project_id, tiers.name");
        assert!(
            violation
                .as_ref()
                .is_some_and(|v| v.is_unique_on("tiers.name"))
        );
        assert!(
            !violation
                .as_ref()
                .is_some_and(|v| v.is_unique_on("tiers.free"))
        );
        assert!(!Violation::Check.is_unique_on("tiers.name"));
    }

    #[test]
    fn only_a_storage_failure_carries_a_violation() {
        let internal = ApiError::internal("D1_ERROR: CHECK constraint failed: n > 0");
        assert_eq!(internal.violation(), Some(Violation::Check));
        assert_eq!(ApiError::StaleUpdate.violation(), None);
    }
}
