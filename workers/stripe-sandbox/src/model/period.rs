//! Billing periods in Unix seconds: calendar months and years that keep the day of their
//! anchor, clamped to shorter months (Jan 31 → Feb 28 → Mar 31), as Stripe bills.
//!
//! Each boundary is computed from the anchor, never from the previous boundary, so a clamp
//! in February does not pull every later period to the 28th.

use tollgate::usage::{civil_from_days, days_from_civil};

const DAY: i64 = 86_400;

/// How often a recurring price bills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interval {
    Month,
    Year,
}

impl Interval {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "month" => Some(Self::Month),
            "year" => Some(Self::Year),
            _ => None,
        }
    }

    pub(crate) fn months(self) -> i64 {
        match self {
            Self::Month => 1,
            Self::Year => 12,
        }
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    days_from_civil(next_year, next_month, 1) - days_from_civil(year, month, 1)
}

/// `at` moved `months` calendar months on, same time of day, the day clamped to the month.
pub(crate) fn add_months(at: i64, months: i64) -> i64 {
    let days = at.div_euclid(DAY);
    let time = at.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    let index = year * 12 + (month - 1) + months;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let day = day.min(days_in_month(year, month));
    days_from_civil(year, month, day) * DAY + time
}

/// The first period boundary after `after`: `anchor` plus a whole number (≥ 1) of periods of
/// `count` × `interval`.
pub(crate) fn next_boundary(anchor: i64, interval: Interval, count: i64, after: i64) -> i64 {
    let step = interval.months() * count.max(1);
    let mut periods = 1;
    loop {
        let boundary = add_months(anchor, step * periods);
        if boundary > after {
            return boundary;
        }
        periods += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC date and time.
    fn at(year: i64, month: i64, day: i64, hour: i64) -> i64 {
        days_from_civil(year, month, day) * DAY + hour * 3600
    }

    #[test]
    fn a_month_keeps_the_day_and_the_time_of_day() {
        assert_eq!(add_months(at(2026, 3, 15, 9), 1), at(2026, 4, 15, 9));
        assert_eq!(add_months(at(2026, 12, 15, 9), 1), at(2027, 1, 15, 9));
    }

    #[test]
    fn the_day_is_clamped_to_the_end_of_shorter_months() {
        assert_eq!(add_months(at(2026, 1, 31, 0), 1), at(2026, 2, 28, 0));
        assert_eq!(add_months(at(2028, 1, 31, 0), 1), at(2028, 2, 29, 0));
        assert_eq!(add_months(at(2026, 3, 31, 0), 1), at(2026, 4, 30, 0));
        assert_eq!(add_months(at(2028, 2, 29, 0), 12), at(2029, 2, 28, 0));
    }

    #[test]
    fn boundaries_come_from_the_anchor_so_a_clamp_does_not_stick() {
        let anchor = at(2026, 1, 31, 12);

        let first = next_boundary(anchor, Interval::Month, 1, anchor);
        let second = next_boundary(anchor, Interval::Month, 1, first);

        assert_eq!(first, at(2026, 2, 28, 12));
        assert_eq!(second, at(2026, 3, 31, 12));
    }

    #[test]
    fn yearly_and_multi_month_periods_step_by_their_length() {
        let anchor = at(2026, 5, 10, 0);

        assert_eq!(
            next_boundary(anchor, Interval::Year, 1, anchor),
            at(2027, 5, 10, 0)
        );
        assert_eq!(
            next_boundary(anchor, Interval::Month, 3, anchor),
            at(2026, 8, 10, 0)
        );
        assert_eq!(
            next_boundary(anchor, Interval::Month, 3, at(2026, 8, 10, 0)),
            at(2026, 11, 10, 0)
        );
    }

    #[test]
    fn a_boundary_is_strictly_after_the_given_time() {
        let anchor = at(2026, 5, 10, 0);

        assert_eq!(
            next_boundary(anchor, Interval::Month, 1, at(2026, 7, 9, 23)),
            at(2026, 7, 10, 0)
        );
    }

    #[test]
    fn intervals_parse_only_month_and_year() {
        assert_eq!(Interval::parse("month"), Some(Interval::Month));
        assert_eq!(Interval::parse("year"), Some(Interval::Year));
        for other in ["day", "week", "Month", ""] {
            assert_eq!(Interval::parse(other), None, "{other}");
        }
    }
}
