//! The metering object's rules: what one end user's counter answers to a call, which calls a
//! retry replays, and what a flush writes to the D1 ledger. Storage-free, so every rule that
//! decides whether a unit is counted runs natively under `cargo test`; the object
//! (`workers/meter`) only loads and stores what these functions take and return.
//!
//! The wire types between the api worker and the object live here too, so both ends parse
//! the same shapes.

use crate::usage::{Limit, Period};
use serde::{Deserialize, Serialize};

/// What decides an end user's allowance, as the records say it: their active or trialing
/// subscription's tier if any, else the tier assigned to them, else the project's default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allowance {
    /// The end user (`cus_…`).
    pub end_user_id: String,
    /// The end user's token version (tokens minted under an older one are revoked).
    pub token_version: i64,
    /// Start of the active subscription's period (ms), if subscribed.
    pub period_start: Option<i64>,
    /// End of the active subscription's period (ms), if subscribed.
    pub period_end: Option<i64>,
    /// The tier's name, if one applies.
    pub tier_name: Option<String>,
    /// The tier's limit (`None` = unlimited).
    pub usage_limit: Option<i64>,
}

impl Allowance {
    /// The period a call at `now` counts in: the subscription's (rolled forward by its own
    /// length once it ended), else the calendar month. The dashboard's SQL applies the same
    /// rule (`db::usage::period_start`).
    #[must_use]
    pub fn period(&self, now: i64) -> Period {
        match (self.period_start, self.period_end) {
            (Some(start), Some(end)) if end > start => Period::subscription(start, end, now),
            _ => Period::calendar_month(now),
        }
    }

    /// The tier's limit.
    #[must_use]
    pub fn limit(&self) -> Limit {
        Limit::from_column(self.usage_limit)
    }
}

/// Who a call is for, as the api names the object it talks to.
#[must_use]
pub fn object_name(project_id: &str, end_user_id: &str) -> String {
    format!("{project_id}:{end_user_id}")
}

/// A metered call (or a read of the current period), as the api sends it to the end user's
/// object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Call {
    /// The project.
    pub project_id: String,
    /// The end user (`cus_…`, already resolved from an external id).
    pub end_user_id: String,
    /// Units to count (0 checks without counting).
    pub cost: u64,
    /// From an end-user token: the version it was minted under.
    pub token_version: Option<i64>,
    /// The caller's `Idempotency-Key` and the request's fingerprint, if a key was sent.
    pub key: Option<KeyedCall>,
    /// Only read where the end user stands (`GET /api/usage`): count nothing, and answer
    /// the standing even at the limit.
    #[serde(default)]
    pub read: bool,
    /// The call's time (ms): the api's clock, so the period and the day are the ones the
    /// api answers with (and development's clock control reaches the object).
    pub now: i64,
}

/// An `Idempotency-Key` and the fingerprint of the request that carried it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyedCall {
    /// The key, already checked well-formed.
    pub key: String,
    /// [`crate::idempotency::fingerprint`] of the request.
    pub print: String,
}

/// Where an end user stands in the period a call was judged in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    /// Units counted this period.
    pub count: u64,
    /// The tier's name.
    pub plan: String,
    /// The tier's limit (`None` = unlimited).
    pub limit: Option<i64>,
    /// The period's first millisecond.
    pub period_start: i64,
    /// The first millisecond after it.
    pub period_end: i64,
}

impl Standing {
    /// The period.
    #[must_use]
    pub const fn period(&self) -> Period {
        Period {
            start: self.period_start,
            end: self.period_end,
        }
    }
}

/// Why a call counted nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No live end user by that id in the project.
    UnknownEndUser,
    /// The end-user token's version is not the end user's current one.
    TokenRevoked,
    /// No tier applies (no subscription, no assigned tier, no default).
    PlanNotConfigured,
    /// The call would go past the limit; nothing was counted.
    LimitReached {
        /// Where the end user stands.
        standing: Standing,
    },
    /// The `Idempotency-Key` was used for another request.
    KeyReused,
}

/// The object's answer to a [`Call`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub enum Answer {
    /// Counted (or, for cost 0, allowed; or, for a read, where the end user stands).
    Counted {
        /// Where the end user stands after the call.
        standing: Standing,
        /// Thresholds (percent) this call crossed; empty for a replay.
        crossed: Vec<u8>,
        /// An earlier answer to the same `Idempotency-Key`, counted then, not now.
        replayed: bool,
    },
    /// Nothing was counted.
    Refused {
        /// Why.
        refusal: Refusal,
    },
}

/// [`Answer`] on the wire: one flat object (`refused` names a refusal, `standing` is there
/// when counted or at the limit). Flat because the api worker parses it on every metered
/// call, and a flat shape costs it the least code.
#[derive(Serialize, Deserialize)]
struct Wire {
    refused: Option<String>,
    standing: Option<Standing>,
    crossed: Vec<u8>,
    replayed: bool,
}

impl From<Answer> for Wire {
    fn from(answer: Answer) -> Self {
        let refused = |name: &str, standing| Self {
            refused: Some(name.to_owned()),
            standing,
            crossed: Vec::new(),
            replayed: false,
        };
        match answer {
            Answer::Counted {
                standing,
                crossed,
                replayed,
            } => Self {
                refused: None,
                standing: Some(standing),
                crossed,
                replayed,
            },
            Answer::Refused { refusal } => match refusal {
                Refusal::UnknownEndUser => refused("unknown_end_user", None),
                Refusal::TokenRevoked => refused("token_revoked", None),
                Refusal::PlanNotConfigured => refused("plan_not_configured", None),
                Refusal::KeyReused => refused("key_reused", None),
                Refusal::LimitReached { standing } => refused("limit_reached", Some(standing)),
            },
        }
    }
}

impl TryFrom<Wire> for Answer {
    type Error = &'static str;

    fn try_from(wire: Wire) -> Result<Self, Self::Error> {
        let refusal = match (wire.refused.as_deref(), wire.standing) {
            (None, Some(standing)) => {
                return Ok(Self::Counted {
                    standing,
                    crossed: wire.crossed,
                    replayed: wire.replayed,
                });
            }
            (Some("limit_reached"), Some(standing)) => Refusal::LimitReached { standing },
            (Some("unknown_end_user"), None) => Refusal::UnknownEndUser,
            (Some("token_revoked"), None) => Refusal::TokenRevoked,
            (Some("plan_not_configured"), None) => Refusal::PlanNotConfigured,
            (Some("key_reused"), None) => Refusal::KeyReused,
            _ => return Err("not a metering answer"),
        };
        Ok(Self::Refused { refusal })
    }
}

/// Judges an allowance at `now` for a caller holding `token_version`: the end user must be
/// live, the token current and a tier must apply. Gives the plan, limit and period.
///
/// # Errors
/// The refusal, before anything is counted.
pub fn judge(
    allowance: Option<&Allowance>,
    token_version: Option<i64>,
    now: i64,
) -> Result<(String, Option<i64>, Period), Refusal> {
    let allowance = allowance.ok_or(Refusal::UnknownEndUser)?;
    if token_version.is_some_and(|version| version != allowance.token_version) {
        return Err(Refusal::TokenRevoked);
    }
    let plan = allowance
        .tier_name
        .clone()
        .ok_or(Refusal::PlanNotConfigured)?;
    Ok((plan, allowance.usage_limit, allowance.period(now)))
}

/// The exact rule: a call of `cost` counts only while the result stays within the limit; a
/// check-only call (cost 0) is allowed while there is room for at least one unit. Gives the
/// new count, or the unchanged one when refused.
///
/// # Errors
/// The current count, when the call may not count.
pub fn count(current: u64, cost: u64, limit: Limit) -> Result<u64, u64> {
    let ceiling = u64::try_from(limit.ceiling()).unwrap_or(0);
    let after = current.saturating_add(cost);
    let allowed = if cost == 0 {
        current < ceiling
    } else {
        after <= ceiling
    };
    if allowed { Ok(after) } else { Err(current) }
}

/// What an `Idempotency-Key` the object already holds means for a new call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retry<'a> {
    /// A key never seen (or expired): count the call.
    Fresh,
    /// The same request again: answer what was answered, count nothing.
    Replay(&'a Standing),
    /// Another request under the same key: refuse it.
    Reused,
}

/// A counted call's record under its `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    /// The fingerprint of the request that used the key.
    pub print: String,
    /// What it answered.
    pub standing: Standing,
    /// When the record may be forgotten (ms).
    pub expires_at: i64,
}

/// Whether a call under `key` replays `record` (the object's record for that key, if any).
#[must_use]
pub fn retry<'a>(record: Option<&'a KeyRecord>, key: &KeyedCall, now: i64) -> Retry<'a> {
    match record {
        Some(record) if record.expires_at > now => {
            if record.print == key.print {
                Retry::Replay(&record.standing)
            } else {
                Retry::Reused
            }
        }
        _ => Retry::Fresh,
    }
}

/// One period the object counted into, with how much of it the ledger already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodTally {
    /// The period's first millisecond.
    pub start: i64,
    /// The first millisecond after it.
    pub end: i64,
    /// Units counted in it (including what was seeded from the ledger).
    pub count: u64,
    /// Units the ledger holds (written by earlier flushes, or seeded from it).
    pub flushed: u64,
}

/// Units counted into one period on one UTC day and not flushed yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayTally {
    /// The period (its first millisecond).
    pub period_start: i64,
    /// The UTC day (its midnight, ms).
    pub day: i64,
    /// Units counted that day.
    pub units: u64,
    /// When the last of them was counted (ms, within the day).
    pub last_at: i64,
}

/// One counter row the ledger must hold at least: the period's count as of the end of a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlushRow {
    /// The period's first millisecond.
    pub period_start: i64,
    /// The first millisecond after it.
    pub period_end: i64,
    /// The period's total through this day (an absolute count, never a delta).
    pub count: u64,
    /// A time within the day (the ledger's triggers file the growth under its day).
    pub at: i64,
}

/// The rows a flush writes: for each period with unflushed units, its running total at the
/// end of each unflushed day, oldest first. Absolute totals applied with "only if larger"
/// make a flush idempotent: one that is retried after it committed changes nothing, and
/// one cut off half way leaves a total the next flush continues from. Writing one total per
/// day lets the ledger's triggers file each day's growth under that day.
#[must_use]
pub fn flush_rows(periods: &[PeriodTally], days: &[DayTally]) -> Vec<FlushRow> {
    let mut rows = Vec::new();
    for period in periods.iter().filter(|p| p.count > p.flushed) {
        let mut own: Vec<&DayTally> = days
            .iter()
            .filter(|d| d.period_start == period.start)
            .collect();
        own.sort_by_key(|d| d.day);
        let pending: u64 = own.iter().map(|d| d.units).sum();
        let mut total = period.count.saturating_sub(pending);
        for day in own {
            total += day.units;
            if total > period.flushed {
                rows.push(FlushRow {
                    period_start: period.start,
                    period_end: period.end,
                    count: total,
                    at: day.last_at,
                });
            }
        }
    }
    rows
}

/// How long counted units may wait before the ledger holds them, unless
/// `METER_FLUSH_MS` says otherwise: the dashboards' staleness bound.
pub const FLUSH_MS: i64 = 5_000;
/// How long a failed flush waits before it is tried again.
pub const FLUSH_RETRY_MS: i64 = 1_000;

/// How long an object trusts the allowance it read, unless `METER_ALLOWANCE_MS` says
/// otherwise: past it, the next call reads the records again. Every write that changes an
/// allowance tells the object at once; this bounds how long a notice that never arrived (a
/// failed call, or an end user past a tier edit's [`FORGET_AT_ONCE`]) leaves an old limit in
/// force.
pub const ALLOWANCE_MS: i64 = 60_000;

/// How many of a project's end users a tier edit tells at once, the most recently metered
/// first: every notice is a subrequest of the edit, and Workers bound those per request.
/// Objects of the others read the change within [`ALLOWANCE_MS`], or at once if they were
/// asleep (an object that wakes reads the records).
pub const FORGET_AT_ONCE: usize = 200;

/// Whether an allowance read at `read_at` may still decide a call at `now`: for `bound_ms`
/// after the read, and never when the clock reads earlier than the read did (a development
/// clock moved back).
#[must_use]
pub fn allowance_current(read_at: i64, now: i64, bound_ms: i64) -> bool {
    now >= read_at && now - read_at < bound_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000_000;

    fn allowance(limit: Option<i64>) -> Allowance {
        Allowance {
            end_user_id: "cus_1".into(),
            token_version: 2,
            period_start: None,
            period_end: None,
            tier_name: Some("free".into()),
            usage_limit: limit,
        }
    }

    fn standing(count: u64) -> Standing {
        Standing {
            count,
            plan: "free".into(),
            limit: Some(10),
            period_start: 0,
            period_end: 10,
        }
    }

    #[test]
    fn an_allowance_decides_calls_for_its_bound_and_is_read_again_after_it() {
        let read_at = 1_000_000;
        for (now, current) in [
            (read_at, true),
            (read_at + ALLOWANCE_MS - 1, true),
            (read_at + ALLOWANCE_MS, false),
            (read_at + 10 * ALLOWANCE_MS, false),
            (read_at - 1, false),
        ] {
            assert_eq!(
                allowance_current(read_at, now, ALLOWANCE_MS),
                current,
                "{now}"
            );
        }
    }

    #[test]
    fn a_call_counts_only_while_the_result_stays_within_the_limit() {
        let limit = Limit::Count(10);
        let cases = [
            // (current, cost, answer)
            (0, 1, Ok(1)),
            (9, 1, Ok(10)),
            (10, 1, Err(10)),
            (7, 3, Ok(10)),
            (8, 3, Err(8)),
            (9, 0, Ok(9)),
            (10, 0, Err(10)),
        ];
        for (current, cost, answer) in cases {
            assert_eq!(count(current, cost, limit), answer, "{current} + {cost}");
        }
    }

    #[test]
    fn an_unlimited_tier_counts_everything() {
        assert_eq!(count(1_000_000, 1_000_000, Limit::Unlimited), Ok(2_000_000));
    }

    #[test]
    fn a_zero_limit_refuses_even_a_check() {
        assert_eq!(count(0, 0, Limit::Count(0)), Err(0));
        assert_eq!(count(0, 1, Limit::Count(0)), Err(0));
    }

    #[test]
    fn a_call_is_judged_by_the_records_never_the_caller() {
        let current = allowance(Some(10));
        let no_plan = Allowance {
            tier_name: None,
            ..allowance(Some(10))
        };
        let cases = [
            (None, None, Err(Refusal::UnknownEndUser)),
            (Some(&current), Some(1), Err(Refusal::TokenRevoked)),
            (Some(&no_plan), None, Err(Refusal::PlanNotConfigured)),
        ];
        for (allowance, version, answer) in cases {
            assert_eq!(
                judge(allowance, version, NOW).map(|_| ()),
                answer,
                "{allowance:?}"
            );
        }
        let (plan, limit, period) = judge(Some(&current), Some(2), NOW).unwrap();
        assert_eq!(
            (plan.as_str(), limit, period),
            ("free", Some(10), Period::calendar_month(NOW))
        );
    }

    #[test]
    fn a_subscribers_period_is_the_subscriptions_rolled_forward_once_it_ended() {
        let day = 86_400_000;
        let subscribed = Allowance {
            period_start: Some(NOW - day),
            period_end: Some(NOW + day),
            ..allowance(Some(10))
        };
        assert_eq!(subscribed.period(NOW).start, NOW - day);
        assert_eq!(
            subscribed.period(NOW + 2 * day),
            Period {
                start: NOW + day,
                end: NOW + 3 * day
            }
        );
    }

    #[test]
    fn a_retry_replays_the_same_request_and_refuses_another() {
        let key = KeyedCall {
            key: "k".into(),
            print: "p".into(),
        };
        let kept = KeyRecord {
            print: "p".into(),
            standing: standing(3),
            expires_at: NOW + 1,
        };
        let other = KeyRecord {
            print: "q".into(),
            ..kept.clone()
        };
        let expired = KeyRecord {
            expires_at: NOW,
            ..other.clone()
        };
        assert_eq!(retry(None, &key, NOW), Retry::Fresh);
        assert_eq!(retry(Some(&kept), &key, NOW), Retry::Replay(&kept.standing));
        assert_eq!(retry(Some(&other), &key, NOW), Retry::Reused);
        assert_eq!(retry(Some(&expired), &key, NOW), Retry::Fresh);
    }

    #[test]
    fn a_flush_writes_each_days_running_total_of_what_the_ledger_lacks() {
        let day = 86_400_000;
        let periods = [
            PeriodTally {
                start: 0,
                end: 30 * day,
                count: 12,
                flushed: 5,
            },
            PeriodTally {
                start: 30 * day,
                end: 60 * day,
                count: 4,
                flushed: 4,
            },
        ];
        let days = [
            DayTally {
                period_start: 0,
                day: 2 * day,
                units: 4,
                last_at: 2 * day + 9,
            },
            DayTally {
                period_start: 0,
                day,
                units: 3,
                last_at: day + 5,
            },
        ];
        // 12 counted, 7 of them on days 1 and 2: 5 came before (seeded or flushed), the
        // ledger holds 5, so day 1 brings it to 8 and day 2 to 12.
        assert_eq!(
            flush_rows(&periods, &days),
            vec![
                FlushRow {
                    period_start: 0,
                    period_end: 30 * day,
                    count: 8,
                    at: day + 5
                },
                FlushRow {
                    period_start: 0,
                    period_end: 30 * day,
                    count: 12,
                    at: 2 * day + 9
                },
            ]
        );
    }

    #[test]
    fn a_flush_of_a_period_the_ledger_holds_writes_nothing() {
        let periods = [PeriodTally {
            start: 0,
            end: 10,
            count: 3,
            flushed: 3,
        }];
        assert!(flush_rows(&periods, &[]).is_empty());
    }

    #[test]
    fn the_wire_shapes_refuse_unknown_fields() {
        let sent = r#"{"projectId":"prj_1","endUserId":"cus_1","cost":1,"tokenVersion":null,"key":null,"read":false,"now":1,"extra":1}"#;
        assert!(serde_json::from_str::<Call>(sent).is_err());
        let answer = Answer::Refused {
            refusal: Refusal::LimitReached {
                standing: standing(10),
            },
        };
        let counted = Answer::Counted {
            standing: standing(3),
            crossed: vec![80],
            replayed: true,
        };
        for answer in [
            answer,
            counted,
            Answer::Refused {
                refusal: Refusal::KeyReused,
            },
        ] {
            let text = serde_json::to_string(&answer).unwrap();
            assert_eq!(serde_json::from_str::<Answer>(&text).unwrap(), answer);
        }
        let nonsense =
            r#"{"refused":"limit_reached","standing":null,"crossed":[],"replayed":false}"#;
        assert!(serde_json::from_str::<Answer>(nonsense).is_err());
    }
}
