//! The console's view of a project's end users (`/v1/projects/{id}/customers…`, developer
//! lane): the list's query (search, page size, keyset cursor) validated at the boundary, and
//! the rules applied to what storage answers — the period each customer's usage counts in,
//! the page and its cursor, the zero-filled daily history.
//!
//! Storage shapes the rows itself, as one JSON document per statement (as the dashboard's
//! reads do: `tollgate_edge::db::customers`), so the worker reads one string per statement
//! instead of deserializing rows; only what needs a rule is done here.
//!
//! The list pages by keyset (`createdAt`, `id`, newest first), never by `OFFSET`: a cursor is
//! the last row's position, so every page costs one index seek whatever its depth, and a
//! customer created while someone pages never shifts the rows they have not reached yet.

use crate::console::FieldErrors;
use crate::dashboard::{Window, fill_usage};
use crate::usage::{MAX_EXACT, Period};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Rows per page when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest page.
pub const MAX_LIMIT: u32 = 100;
/// The longest search, in bytes of its `LIKE` pattern (escapes and the trailing `%`
/// included): D1 refuses a `LIKE` pattern over 50 bytes, so a longer search would fail in
/// storage instead of at the boundary.
pub const MAX_SEARCH: usize = 50;
/// The newest orders a customer's detail shows.
pub const MAX_ORDERS: u32 = 50;
/// The newest entitlements a customer's detail shows.
pub const MAX_ENTITLEMENTS: u32 = 100;
/// The longest cursor accepted: a position is a time and an id, far below this.
const MAX_CURSOR: usize = 200;

fn field_error(errors: &mut FieldErrors, field: &str, reason: &str) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(reason.to_owned());
}

/// A list position: the last row a page answered. Opaque to clients (base64url of
/// `createdAt:id`), so its encoding may change without breaking them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The row's creation time (ms).
    pub created_at: i64,
    /// The row's `cus_…` id, which breaks ties between rows created in the same millisecond.
    pub id: String,
}

impl Cursor {
    /// The cursor that resumes after this row.
    #[must_use]
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at, self.id))
    }

    /// A cursor this module encoded, or `None` for anything else.
    #[must_use]
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() > MAX_CURSOR {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (at, id) = text.split_once(':')?;
        let created_at = at
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=MAX_EXACT).contains(n))?;
        let suffix = id.strip_prefix("cus_")?;
        let well_formed = !suffix.is_empty()
            && suffix.len() <= 64
            && suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        well_formed.then(|| Self {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// What `GET …/customers` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerQuery {
    /// Rows per page (1–[`MAX_LIMIT`]).
    pub limit: u32,
    /// A case-insensitive prefix of the email, the external id or the `cus_…` id.
    pub search: Option<String>,
    /// Resume after this row; `None` is the first page.
    pub after: Option<Cursor>,
}

impl CustomerQuery {
    /// Parses `search`, `limit` and `cursor` from a query string's pairs; other parameters
    /// are ignored, an empty `search` or `cursor` means none.
    ///
    /// # Errors
    /// Field errors for every value out of range.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldErrors> {
        let mut query = Self {
            limit: DEFAULT_LIMIT,
            search: None,
            after: None,
        };
        let mut errors = FieldErrors::new();
        for (key, value) in pairs {
            match key {
                "limit" => match value.parse::<u32>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => query.limit = n,
                    _ => field_error(&mut errors, "limit", "must be a whole number from 1 to 100"),
                },
                "search" => match parse_search(value) {
                    Ok(search) => query.search = search,
                    Err(reason) => field_error(&mut errors, "search", reason),
                },
                "cursor" if value.is_empty() => query.after = None,
                "cursor" => match Cursor::decode(value) {
                    Some(cursor) => query.after = Some(cursor),
                    None => field_error(
                        &mut errors,
                        "cursor",
                        "must be a nextCursor this list answered",
                    ),
                },
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(errors)
        }
    }

    /// The `LIKE` pattern of the search (`ESCAPE '\'`): the text, its wildcards taken
    /// literally, followed by `%`.
    #[must_use]
    pub fn like_pattern(&self) -> Option<String> {
        self.search.as_deref().map(|search| {
            let mut pattern = String::with_capacity(search.len() + 1);
            for c in search.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            pattern
        })
    }
}

fn parse_search(raw: &str) -> Result<Option<String>, &'static str> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let escapes = trimmed
        .chars()
        .filter(|c| matches!(c, '%' | '_' | '\\'))
        .count();
    if trimmed.len() + escapes + 1 > MAX_SEARCH {
        return Err(
            "must be at most 49 bytes (fewer with % _ \\ or non-ASCII characters): a prefix is enough",
        );
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(Some(trimmed.to_owned()))
}

/// Whether a subscription in `status` decides the plan and the period (the metered call's
/// rule: only active and trialing ones do).
fn decides(status: Option<&str>) -> bool {
    matches!(status, Some("active" | "trialing"))
}

fn int(value: &Value, key: &str) -> Option<i64> {
    value.get(key).and_then(Value::as_i64)
}

/// The period a metered call counts in at `now` for a customer whose subscription (as
/// storage shaped it, or null) is `subscription`: the deciding subscription's period, rolled
/// forward once it ended, else the calendar month — the rule `db::usage` applies in SQL.
#[must_use]
pub fn usage_period(subscription: &Value, now: i64) -> Period {
    let status = subscription.get("status").and_then(Value::as_str);
    match (
        int(subscription, "currentPeriodStart"),
        int(subscription, "currentPeriodEnd"),
    ) {
        (Some(start), Some(end)) if end > start && decides(status) => {
            Period::subscription(start, end, now)
        }
        _ => Period::calendar_month(now),
    }
}

/// The fields of a subscription the list shows; the detail shows them all.
const SUMMARY: [&str; 4] = ["status", "tier", "currentPeriodEnd", "cancelAtPeriodEnd"];

/// A customer as storage shaped it (`usage: { count }`, the subscription in full or null)
/// with the period its usage counts in; `summary` keeps only the list's subscription fields.
fn shaped(mut customer: Value, now: i64, summary: bool) -> Value {
    let period = usage_period(&customer["subscription"], now);
    if let Some(usage) = customer.get_mut("usage").and_then(Value::as_object_mut) {
        usage.insert("periodStart".to_owned(), period.start.into());
        usage.insert("periodEnd".to_owned(), period.end.into());
    }
    if summary
        && let Some(sub) = customer
            .get_mut("subscription")
            .and_then(Value::as_object_mut)
    {
        sub.retain(|key, _| SUMMARY.contains(&key.as_str()));
    }
    customer
}

/// One page of the list from up to `limit + 1` customers read newest first (a JSON array as
/// storage shaped it): `{ data, nextCursor, limit }`, the cursor naming the last row shown
/// when storage found more.
#[must_use]
pub fn page(rows: Value, limit: u32, now: i64) -> Value {
    let mut rows = match rows {
        Value::Array(rows) => rows,
        _ => Vec::new(),
    };
    let size = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > size;
    rows.truncate(size);
    let next_cursor = rows.last().filter(|_| more).and_then(|last| {
        Some(
            Cursor {
                created_at: int(last, "createdAt")?,
                id: last.get("id")?.as_str()?.to_owned(),
            }
            .encode(),
        )
    });
    let data: Vec<Value> = rows.into_iter().map(|row| shaped(row, now, true)).collect();
    serde_json::json!({ "data": data, "nextCursor": next_cursor, "limit": limit })
}

/// A customer in full: the row with its subscription in full, `usageHistory` zero-filled
/// over the 30 days ending today from `days` (`[{ day, n, current }]`: each day's units and
/// the part counted into the customer's current period), its orders and entitlements as
/// storage shaped them.
#[must_use]
pub fn detail(
    customer: Value,
    days: &Value,
    orders: Value,
    entitlements: Value,
    now: i64,
) -> Value {
    let mut customer = shaped(customer, now, false);
    if let Some(object) = customer.as_object_mut() {
        object.insert(
            "usageHistory".to_owned(),
            fill_usage(Window::ending_at(now), days),
        );
        object.insert("orders".to_owned(), orders);
        object.insert("entitlements".to_owned(), entitlements);
    }
    customer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::DAY_MS;
    use serde_json::json;

    const NOW: i64 = 1_764_547_200_000 + 5 * DAY_MS + 3_600_000; // 2025-12-06T01:00Z

    fn row(id: &str, created_at: i64) -> Value {
        json!({
            "id": id, "email": "ann@example.com", "externalId": "u-1", "createdAt": created_at,
            "plan": "free", "limit": 100, "usage": { "count": 7 }, "subscription": null,
        })
    }

    fn subscribed(status: &str, start: i64, end: i64) -> Value {
        let mut customer = row("cus_a", 1);
        customer["plan"] = json!("pro");
        customer["limit"] = Value::Null;
        customer["subscription"] = json!({
            "id": "subr_1", "status": status, "tier": "pro", "currentPeriodStart": start,
            "currentPeriodEnd": end, "cancelAtPeriodEnd": true, "canceledAt": null,
            "amount": 900, "currency": "usd", "interval": "month",
        });
        customer
    }

    #[test]
    fn absent_parameters_mean_the_first_twenty_rows_unfiltered() {
        assert_eq!(
            CustomerQuery::from_query([("page", "3")]),
            Ok(CustomerQuery {
                limit: 20,
                search: None,
                after: None
            })
        );
    }

    #[test]
    fn a_cursor_resumes_exactly_after_the_row_it_was_made_from() {
        let cursor = Cursor {
            created_at: 1_763_740_800_000,
            id: "cus_6avw7QFhOtAsaBDqLdlEsU".to_owned(),
        };
        let encoded = cursor.encode();

        let query = CustomerQuery::from_query([("cursor", encoded.as_str()), ("limit", "5")]);

        assert_eq!(query.map(|q| (q.after, q.limit)), Ok((Some(cursor), 5)));
    }

    #[test]
    fn bad_values_are_field_errors_on_their_parameter() {
        let overlong = "a".repeat(MAX_SEARCH + 1);
        let negative = URL_SAFE_NO_PAD.encode("-1:cus_a");
        let not_a_customer = URL_SAFE_NO_PAD.encode("1:prj_a");
        let no_time = URL_SAFE_NO_PAD.encode("cus_a");
        let injected = URL_SAFE_NO_PAD.encode("1:cus_a' OR 1=1");
        let long_cursor = "A".repeat(MAX_CURSOR + 1);
        for (key, value) in [
            ("limit", "0"),
            ("limit", "101"),
            ("limit", "-1"),
            ("limit", "ten"),
            ("limit", ""),
            ("search", overlong.as_str()),
            ("search", "ann\u{0}"),
            ("cursor", "not base64!"),
            ("cursor", negative.as_str()),
            ("cursor", not_a_customer.as_str()),
            ("cursor", no_time.as_str()),
            ("cursor", injected.as_str()),
            ("cursor", long_cursor.as_str()),
        ] {
            let errors = CustomerQuery::from_query([(key, value)]).unwrap_err();
            assert_eq!(errors.keys().collect::<Vec<_>>(), [key], "{key}={value}");
        }
    }

    #[test]
    fn a_search_is_trimmed_and_an_empty_one_is_none() {
        let query = |v| CustomerQuery::from_query([("search", v)]).unwrap().search;
        assert_eq!(query("  Ann@  "), Some("Ann@".to_owned()));
        assert_eq!(query("   "), None);
        // 24 two-byte characters and the `%`: 49 bytes, the most D1 takes.
        assert_eq!(query(&"é".repeat(24)).map(|s| s.chars().count()), Some(24));
        assert!(CustomerQuery::from_query([("search", "é".repeat(25).as_str())]).is_err());
        assert!(
            CustomerQuery::from_query([("search", "%".repeat(25).as_str())]).is_err(),
            "escapes count"
        );
    }

    #[test]
    fn a_search_is_a_prefix_whose_wildcards_are_taken_literally() {
        for (search, pattern) in [
            ("ann", "ann%"),
            ("100%", "100\\%%"),
            ("a_b", "a\\_b%"),
            ("c:\\x", "c:\\\\x%"),
        ] {
            let query = CustomerQuery::from_query([("search", search)]).unwrap();
            assert_eq!(query.like_pattern().as_deref(), Some(pattern), "{search}");
        }
    }

    #[test]
    fn a_page_names_a_cursor_only_when_more_rows_follow() {
        let rows = || json!([row("cus_c", 30), row("cus_b", 20), row("cus_a", 10)]);

        let full = page(rows(), 2, NOW);
        let last = page(rows(), 3, NOW);

        assert_eq!(full["data"].as_array().map(Vec::len), Some(2));
        let next = Cursor::decode(full["nextCursor"].as_str().unwrap()).unwrap();
        assert_eq!((next.created_at, next.id.as_str()), (20, "cus_b"));
        assert_eq!(last["data"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            (last["nextCursor"].clone(), last["limit"].clone()),
            (Value::Null, json!(3))
        );
    }

    #[test]
    fn without_a_deciding_subscription_usage_counts_in_the_calendar_month() {
        for customer in [
            row("cus_a", 1),
            subscribed("canceled", NOW - DAY_MS, NOW + DAY_MS),
        ] {
            let usage = &page(json!([customer]), 20, NOW)["data"][0]["usage"];
            assert_eq!(
                usage,
                &json!({ "count": 7, "periodStart": 1_764_547_200_000_i64, "periodEnd": 1_767_225_600_000_i64 })
            );
        }
    }

    #[test]
    fn an_active_subscription_sets_the_period_rolled_forward_once_it_ended() {
        let start = NOW - 40 * DAY_MS;
        let customer = subscribed("active", start, start + 30 * DAY_MS);

        let period = usage_period(&customer["subscription"], NOW);

        assert_eq!(
            (period.start, period.end),
            (start + 30 * DAY_MS, start + 60 * DAY_MS)
        );
    }

    #[test]
    fn the_list_shows_the_subscription_summary_and_the_detail_all_of_it() {
        let customer = subscribed("trialing", NOW - DAY_MS, NOW + DAY_MS);

        let listed = page(json!([customer.clone()]), 20, NOW)["data"][0].clone();
        let full = detail(customer, &json!([]), json!([]), json!([]), NOW);

        assert_eq!(
            listed["subscription"],
            json!({ "status": "trialing", "tier": "pro", "currentPeriodEnd": NOW + DAY_MS, "cancelAtPeriodEnd": true })
        );
        assert_eq!(
            (
                full["subscription"]["amount"].clone(),
                full["subscription"]["interval"].clone()
            ),
            (json!(900), json!("month"))
        );
        assert_eq!(full["usage"]["periodStart"], json!(NOW - DAY_MS));
        assert_eq!(
            page(json!([row("cus_a", 1)]), 20, NOW)["data"][0]["subscription"],
            Value::Null
        );
    }

    #[test]
    fn the_detail_has_a_zero_filled_history_ending_today() {
        let today = crate::dashboard::day_of(NOW);
        let days = json!([{ "day": today, "n": 7, "current": 4 }, { "day": today - 40, "n": 3 }]);

        let detail = detail(
            row("cus_a", 1),
            &days,
            json!([{ "id": "ord_1" }]),
            json!([]),
            NOW,
        );

        let history = detail["usageHistory"].as_array().unwrap();
        assert_eq!(history.len(), 30);
        assert_eq!(history[29]["count"], 7, "today is the last point");
        assert_eq!(history[29]["currentPeriod"], 4);
        assert_eq!(
            history
                .iter()
                .map(|d| d["count"].as_u64().unwrap())
                .sum::<u64>(),
            7,
            "days outside the window are dropped"
        );
        assert_eq!(detail["orders"][0]["id"], "ord_1");
    }
}
