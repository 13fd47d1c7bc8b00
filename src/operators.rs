//! Who is a Tollgate operator: the `OPERATOR_SUBJECTS` allow-list of developer identities,
//! parsed once and matched against a verified developer JWT's issuer and subject.

/// One allowed identity: a bare `sub` (any configured developer issuer) or `iss|sub`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    issuer: Option<String>,
    subject: String,
}

/// The operators' allow-list. Empty (unset) means nobody: the admin lane is closed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Operators(Vec<Entry>);

impl Operators {
    /// Parses a comma-separated list of `sub` or `iss|sub` entries; blanks are skipped.
    #[must_use]
    pub fn parse(raw: &str) -> Self {
        Self(
            raw.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .filter_map(|e| match e.split_once('|') {
                    Some((iss, sub)) if !iss.trim().is_empty() && !sub.trim().is_empty() => {
                        Some(Entry {
                            issuer: Some(iss.trim().to_owned()),
                            subject: sub.trim().to_owned(),
                        })
                    }
                    Some(_) => None,
                    None => Some(Entry {
                        issuer: None,
                        subject: e.to_owned(),
                    }),
                })
                .collect(),
        )
    }

    /// Whether the verified identity is on the list (exact, case-sensitive matches).
    #[must_use]
    pub fn allows(&self, issuer: &str, subject: &str) -> bool {
        self.0.iter().any(|e| {
            e.subject == subject && e.issuer.as_deref().is_none_or(|allowed| allowed == issuer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_subject_is_allowed_from_any_issuer_and_a_pair_only_from_its_own() {
        let ops = Operators::parse(" ops-1 , https://id.example|ops-2,");
        assert!(ops.allows("https://other.example", "ops-1"));
        assert!(ops.allows("https://id.example", "ops-2"));
        assert!(!ops.allows("https://other.example", "ops-2"));
    }

    #[test]
    fn unset_blank_or_malformed_lists_allow_nobody() {
        for raw in ["", " , ", "|ops", "iss|", "|"] {
            let ops = Operators::parse(raw);
            assert!(!ops.allows("iss", "ops"), "{raw:?}");
            assert!(!ops.allows("iss", ""), "{raw:?}");
        }
    }

    #[test]
    fn matching_is_exact() {
        let ops = Operators::parse("ops");
        for other in ["Ops", "ops ", "op", "ops2"] {
            assert!(!ops.allows("iss", other), "{other}");
        }
    }
}
