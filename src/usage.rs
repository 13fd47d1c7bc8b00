//! Usage metering rules: limits, the period a call counts in, and the usage object answered
//! by `POST /api/data` and `GET /api/usage` (dream-api's field names beside ours).

use serde::{Serialize, Serializer};

/// A tier's allowance per period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// No ceiling.
    Unlimited,
    /// At most this many units per period.
    Count(u64),
}

impl Limit {
    /// From the stored column (`NULL` = unlimited).
    #[must_use]
    pub fn from_column(value: Option<i64>) -> Self {
        match value {
            None => Self::Unlimited,
            Some(n) => Self::Count(u64::try_from(n).unwrap_or(0)),
        }
    }

    /// The ceiling as a storage integer: unlimited is the largest exact integer D1 can hold.
    #[must_use]
    pub fn ceiling(self) -> i64 {
        match self {
            Self::Unlimited => MAX_EXACT,
            Self::Count(n) => i64::try_from(n).unwrap_or(MAX_EXACT).min(MAX_EXACT),
        }
    }

    /// Units left after `count`; `None` when unlimited.
    #[must_use]
    pub fn remaining(self, count: u64) -> Option<u64> {
        match self {
            Self::Unlimited => None,
            Self::Count(n) => Some(n.saturating_sub(count)),
        }
    }
}

/// 2^53 − 1: D1 numbers are doubles, so integers stay below this.
pub const MAX_EXACT: i64 = (1 << 53) - 1;

impl Serialize for Limit {
    /// A number, or the string `"unlimited"` (dream-api's convention).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Unlimited => serializer.serialize_str("unlimited"),
            Self::Count(n) => serializer.serialize_u64(*n),
        }
    }
}

/// A half-open window `[start, end)` in Unix milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// First millisecond of the period.
    pub start: i64,
    /// First millisecond after it.
    pub end: i64,
}

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 → (year, month 1–12, day 1–31), proleptic Gregorian.
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month 1–12, day) → days since 1970-01-01.
#[must_use]
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Period {
    /// The calendar month (UTC) containing `now`.
    #[must_use]
    pub fn calendar_month(now: i64) -> Self {
        let (year, month, _) = civil_from_days(now.div_euclid(DAY_MS));
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        Self {
            start: days_from_civil(year, month, 1) * DAY_MS,
            end: days_from_civil(next_year, next_month, 1) * DAY_MS,
        }
    }

    /// The subscription's current period at `now`. A period that already ended (its renewal
    /// not recorded yet) rolls forward by its own length, so usage never counts into a
    /// finished period and a new one starts at zero without any job.
    #[must_use]
    pub fn subscription(start: i64, end: i64, now: i64) -> Self {
        let length = (end - start).max(DAY_MS);
        if now < end {
            return Self { start, end };
        }
        let skipped = (now - end) / length;
        let start = end + skipped * length;
        Self {
            start,
            end: start + length,
        }
    }

    /// Seconds until the period ends, rounded up (for `Retry-After`).
    #[must_use]
    pub fn seconds_left(&self, now: i64) -> i64 {
        ((self.end - now).max(0) + 999) / 1000
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-01T00:00:00.000Z`.
#[must_use]
pub fn iso8601(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// The usage object: ours (`count`, `limit`, `remaining`) and dream-api's (`usageCount`),
/// with periods as RFC 3339 strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Units counted this period.
    pub count: u64,
    /// The same, under dream-api's name.
    pub usage_count: u64,
    /// The allowance: a number or `"unlimited"`.
    pub limit: Limit,
    /// Units left: a number or `"unlimited"`.
    pub remaining: Limit,
    /// The tier the allowance comes from.
    pub plan: String,
    /// Start of the period.
    pub period_start: String,
    /// End of the period (exclusive).
    pub period_end: String,
}

impl Usage {
    /// The usage object for `count` units under `limit` on `plan` in `period`.
    #[must_use]
    pub fn new(count: u64, limit: Limit, plan: &str, period: Period) -> Self {
        let remaining = limit
            .remaining(count)
            .map_or(Limit::Unlimited, Limit::Count);
        Self {
            count,
            usage_count: count,
            limit,
            remaining,
            plan: plan.to_owned(),
            period_start: iso8601(period.start),
            period_end: iso8601(period.end),
        }
    }
}

/// A metered call's cost: a whole number ≥ 0 (0 checks without counting).
///
/// # Errors
/// A reason fit for `fieldErrors.cost`.
pub fn parse_cost(raw: Option<i64>) -> Result<u64, &'static str> {
    match raw {
        None => Ok(1),
        Some(n) if (0..=1_000_000).contains(&n) => Ok(n.unsigned_abs()),
        Some(_) => Err("must be a whole number from 0 to 1000000"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOV_23_2026: i64 = 1_795_425_600_000; // 2026-11-23T09:20:00Z

    #[test]
    fn the_calendar_month_is_utc_first_day_to_first_day() {
        let month = Period::calendar_month(NOV_23_2026);
        assert_eq!(iso8601(month.start), "2026-11-01T00:00:00.000Z");
        assert_eq!(iso8601(month.end), "2026-12-01T00:00:00.000Z");
    }

    #[test]
    fn months_roll_over_years_and_leap_februaries() {
        let december = Period::calendar_month(days_from_civil(2026, 12, 31) * DAY_MS + 5);
        assert_eq!(iso8601(december.end), "2027-01-01T00:00:00.000Z");
        let february = Period::calendar_month(days_from_civil(2028, 2, 29) * DAY_MS);
        assert_eq!(iso8601(february.start), "2028-02-01T00:00:00.000Z");
        assert_eq!(iso8601(february.end), "2028-03-01T00:00:00.000Z");
    }

    #[test]
    fn the_last_millisecond_belongs_to_its_month_and_the_next_starts_a_new_one() {
        let end = Period::calendar_month(NOV_23_2026).end;
        assert_eq!(Period::calendar_month(end - 1).end, end);
        assert_eq!(Period::calendar_month(end).start, end);
    }

    #[test]
    fn days_round_trip_through_the_calendar() {
        for days in [-1000, 0, 1, 59, 365, 10_957, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn a_current_subscription_period_is_used_as_is() {
        assert_eq!(
            Period::subscription(1_000, 100_000_000, 5_000),
            Period {
                start: 1_000,
                end: 100_000_000
            }
        );
    }

    #[test]
    fn an_ended_subscription_period_rolls_forward_by_its_length() {
        let length = 30 * DAY_MS;
        let rolled = Period::subscription(0, length, 2 * length + 5);
        assert_eq!(
            rolled,
            Period {
                start: 2 * length,
                end: 3 * length
            }
        );
    }

    #[test]
    fn limits_serialize_as_numbers_or_unlimited() {
        let usage = Usage::new(
            3,
            Limit::Count(10),
            "free",
            Period::calendar_month(NOV_23_2026),
        );
        let value = serde_json::to_value(&usage).unwrap();
        assert_eq!(value["limit"], json!(10));
        assert_eq!(value["remaining"], json!(7));
        assert_eq!(value["usageCount"], json!(3));
        let unlimited = serde_json::to_value(Usage::new(
            3,
            Limit::Unlimited,
            "pro",
            Period::calendar_month(0),
        ))
        .unwrap();
        assert_eq!(unlimited["limit"], json!("unlimited"));
        assert_eq!(unlimited["remaining"], json!("unlimited"));
    }

    #[test]
    fn remaining_never_goes_below_zero_and_unlimited_has_the_largest_ceiling() {
        assert_eq!(Limit::Count(5).remaining(9), Some(0));
        assert_eq!(Limit::Unlimited.ceiling(), MAX_EXACT);
        assert_eq!(Limit::from_column(None), Limit::Unlimited);
        assert_eq!(Limit::from_column(Some(-3)), Limit::Count(0));
    }

    #[test]
    fn costs_are_whole_numbers_from_zero() {
        assert_eq!(parse_cost(None), Ok(1));
        assert_eq!(parse_cost(Some(0)), Ok(0));
        assert_eq!(parse_cost(Some(3)), Ok(3));
        assert!(parse_cost(Some(-1)).is_err());
        assert!(parse_cost(Some(1_000_001)).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let period = Period {
            start: 0,
            end: 10_500,
        };
        assert_eq!(period.seconds_left(10_000), 1);
        assert_eq!(period.seconds_left(20_000), 0);
    }
}
