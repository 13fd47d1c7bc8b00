//! Pagination of lists: `?page=1&pageSize=20`, 1-based, at most 100 per page and at most
//! [`Page::MAX_DEPTH`] rows deep.
//!
//! The depth cap exists because every list is an `OFFSET` query: D1 reads and discards every
//! skipped row, so a deep page costs as much as reading the whole list. Past the cap the
//! request is refused (422 on `page`), never silently clamped, so a client never mistakes
//! another page for the one it asked for; totals still count every row.

use std::collections::BTreeMap;

/// A requested page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: u32,
    /// Items per page (1–100).
    pub page_size: u32,
}

impl Page {
    /// Items per page when the caller does not say.
    pub const DEFAULT_SIZE: u32 = 20;
    /// The largest page.
    pub const MAX_SIZE: u32 = 100;
    /// The deepest row a page may reach (`page × pageSize`).
    pub const MAX_DEPTH: u32 = 10_000;

    /// Parses `page` and `pageSize` from a query string's pairs; absent means the defaults.
    ///
    /// # Errors
    /// Field errors for values that are not in range.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, BTreeMap<String, Vec<String>>> {
        let mut page = Self {
            page: 1,
            page_size: Self::DEFAULT_SIZE,
        };
        let mut errors = BTreeMap::new();
        for (key, value) in pairs {
            match key {
                "page" => match value.parse::<u32>() {
                    Ok(n) if (1..=1_000_000).contains(&n) => page.page = n,
                    _ => {
                        errors.insert(
                            "page".to_owned(),
                            vec!["must be a whole number from 1".to_owned()],
                        );
                    }
                },
                "pageSize" => match value.parse::<u32>() {
                    Ok(n) if (1..=Self::MAX_SIZE).contains(&n) => page.page_size = n,
                    _ => {
                        errors.insert(
                            "pageSize".to_owned(),
                            vec!["must be a whole number from 1 to 100".to_owned()],
                        );
                    }
                },
                _ => {}
            }
        }
        if errors.is_empty() && page.page * page.page_size > Self::MAX_DEPTH {
            errors.insert(
                "page".to_owned(),
                vec![format!(
                    "reaches too deep: page × pageSize must be at most {}",
                    Self::MAX_DEPTH
                )],
            );
        }
        if errors.is_empty() {
            Ok(page)
        } else {
            Err(errors)
        }
    }

    /// Rows to skip.
    #[must_use]
    pub fn offset(&self) -> u32 {
        (self.page - 1) * self.page_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_parameters_mean_the_first_page_of_twenty() {
        assert_eq!(
            Page::from_query([]),
            Ok(Page {
                page: 1,
                page_size: 20
            })
        );
    }

    #[test]
    fn valid_parameters_are_taken_and_others_ignored() {
        let page = Page::from_query([("page", "3"), ("pageSize", "50"), ("sort", "x")]).unwrap();
        assert_eq!((page.page, page.page_size, page.offset()), (3, 50, 100));
    }

    #[test]
    fn pages_reach_at_most_ten_thousand_rows_deep() {
        for (page, size, ok) in [
            ("500", "20", true),
            ("501", "20", false),
            ("100", "100", true),
            ("101", "100", false),
            ("10000", "1", true),
            ("10001", "1", false),
            ("1000000", "100", false),
        ] {
            let outcome = Page::from_query([("page", page), ("pageSize", size)]);
            assert_eq!(outcome.is_ok(), ok, "page={page}&pageSize={size}");
            if let Err(errors) = outcome {
                assert_eq!(errors.keys().collect::<Vec<_>>(), ["page"]);
            }
        }
    }

    #[test]
    fn out_of_range_values_are_field_errors() {
        for (key, value) in [
            ("page", "0"),
            ("page", "-1"),
            ("page", "x"),
            ("pageSize", "0"),
            ("pageSize", "101"),
            ("pageSize", "1.5"),
        ] {
            let errors = Page::from_query([(key, value)]).unwrap_err();
            assert!(errors.contains_key(key), "{key}={value}");
        }
    }
}
