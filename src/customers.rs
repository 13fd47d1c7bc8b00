//! The console's view of a project's end users (`/v1/projects/{id}/customers…`, developer
//! lane): the list's query (search, page size, keyset cursor) validated at the boundary, and
//! the rows storage answers shaped into the customer, its usage this period, its subscription,
//! orders and entitlements.
//!
//! The list pages by keyset (`createdAt`, `id`, newest first), never by `OFFSET`: a cursor is
//! the last row's position, so every page costs one index seek whatever its depth, and a
//! customer created while someone pages never shifts the rows they have not reached yet.

use crate::console::FieldErrors;
use crate::dashboard::{Window, fill};
use crate::usage::{MAX_EXACT, Period};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Rows per page when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest page.
pub const MAX_LIMIT: u32 = 100;
/// The longest search, in characters: longer than any email or id a developer would type.
pub const MAX_SEARCH: usize = 100;
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
    if trimmed.chars().count() > MAX_SEARCH {
        return Err("must be at most 100 characters");
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(Some(trimmed.to_owned()))
}

/// A customer with its standing, as storage reads it: the end user, the tier that applies
/// now (the metered call's rule), the count of its current period's counter, and its
/// subscription — the one that decides its plan if any, else the newest.
#[derive(Clone, Debug, Deserialize)]
pub struct StandingRow {
    /// `cus_…`
    pub id: String,
    /// Email.
    pub email: Option<String>,
    /// The developer's own id.
    pub external_id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// The applying tier's name (`None` when no tier applies).
    pub plan: Option<String>,
    /// The applying tier's limit (`None` = unlimited).
    pub usage_limit: Option<i64>,
    /// Units counted in the current period.
    pub usage_count: i64,
    /// The subscription shown (`subr_…`).
    pub sub_id: Option<String>,
    /// Its status.
    pub sub_status: Option<String>,
    /// Its tier's name (the name it was granted under if the tier is gone).
    pub sub_tier: Option<String>,
    /// Start of its paid period (ms).
    pub sub_period_start: Option<i64>,
    /// End of its paid period (ms).
    pub sub_period_end: Option<i64>,
    /// 1 when it ends at the period's end.
    pub sub_cancel_at_period_end: Option<i64>,
    /// When it was canceled (ms).
    pub sub_canceled_at: Option<i64>,
    /// Minor units per interval.
    pub sub_amount: Option<i64>,
    /// Its currency.
    pub sub_currency: Option<String>,
    /// `month` or `year`.
    pub sub_interval: Option<String>,
}

/// Usage in the period a metered call counts in now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageNow {
    /// Units counted.
    pub count: u64,
    /// First millisecond of the period.
    pub period_start: i64,
    /// First millisecond after it.
    pub period_end: i64,
}

/// A subscription as the list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionSummary {
    /// Stripe's status, as last applied.
    pub status: String,
    /// The tier's name.
    pub tier: String,
    /// End of the paid period (ms).
    pub current_period_end: Option<i64>,
    /// Whether it ends at the period's end.
    pub cancel_at_period_end: bool,
}

/// A subscription as the detail shows it: the summary, its period and what it costs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionDetail {
    /// `subr_…`
    pub id: String,
    /// The list's fields.
    #[serde(flatten)]
    pub summary: SubscriptionSummary,
    /// Start of the paid period (ms).
    pub current_period_start: Option<i64>,
    /// When it was canceled (ms).
    pub canceled_at: Option<i64>,
    /// Minor units per interval.
    pub amount: i64,
    /// Its currency.
    pub currency: String,
    /// `month` or `year`.
    pub interval: String,
}

/// A row of the customer list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerSummary {
    /// `cus_…`
    pub id: String,
    /// Email.
    pub email: Option<String>,
    /// The developer's own id.
    pub external_id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// The tier that applies now (`None` when the project has none for them).
    pub plan: Option<String>,
    /// That tier's allowance per period (`None` = unlimited, or no tier).
    pub limit: Option<u64>,
    /// Usage this period.
    pub usage: UsageNow,
    /// Their subscription, if they ever had one.
    pub subscription: Option<SubscriptionSummary>,
}

/// Whether a subscription in `status` decides the plan and the period (the metered call's
/// rule: only active and trialing ones do).
fn decides(status: Option<&str>) -> bool {
    matches!(status, Some("active" | "trialing"))
}

impl StandingRow {
    /// The period a metered call counts in at `now`: the deciding subscription's (rolled
    /// forward once it ended), else the calendar month — as `db::usage` computes it in SQL.
    #[must_use]
    pub fn period(&self, now: i64) -> Period {
        match (self.sub_period_start, self.sub_period_end) {
            (Some(start), Some(end)) if end > start && decides(self.sub_status.as_deref()) => {
                Period::subscription(start, end, now)
            }
            _ => Period::calendar_month(now),
        }
    }

    fn subscription_summary(&self) -> Option<SubscriptionSummary> {
        let status = self.sub_status.clone()?;
        Some(SubscriptionSummary {
            status,
            tier: self.sub_tier.clone().unwrap_or_default(),
            current_period_end: self.sub_period_end,
            cancel_at_period_end: self.sub_cancel_at_period_end == Some(1),
        })
    }

    /// The list's row at `now`.
    #[must_use]
    pub fn summary(&self, now: i64) -> CustomerSummary {
        let period = self.period(now);
        CustomerSummary {
            id: self.id.clone(),
            email: self.email.clone(),
            external_id: self.external_id.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            created_at: self.created_at,
            plan: self.plan.clone(),
            limit: self.usage_limit.map(|n| u64::try_from(n).unwrap_or(0)),
            usage: UsageNow {
                count: u64::try_from(self.usage_count).unwrap_or(0),
                period_start: period.start,
                period_end: period.end,
            },
            subscription: self.subscription_summary(),
        }
    }

    /// The subscription in full, for the detail.
    #[must_use]
    pub fn subscription(&self) -> Option<SubscriptionDetail> {
        Some(SubscriptionDetail {
            id: self.sub_id.clone()?,
            summary: self.subscription_summary()?,
            current_period_start: self.sub_period_start,
            canceled_at: self.sub_canceled_at,
            amount: self.sub_amount.unwrap_or(0),
            currency: self.sub_currency.clone().unwrap_or_default(),
            interval: self.sub_interval.clone().unwrap_or_default(),
        })
    }
}

/// One page of the list: at most `limit` rows and the cursor after the last, when storage
/// found more (it is asked for `limit + 1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerPage {
    /// The rows, newest first.
    pub data: Vec<CustomerSummary>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
    /// The page size used.
    pub limit: u32,
}

impl CustomerPage {
    /// The page from up to `limit + 1` rows read newest first.
    #[must_use]
    pub fn from_rows(mut rows: Vec<StandingRow>, limit: u32, now: i64) -> Self {
        let size = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > size;
        rows.truncate(size);
        let next_cursor = rows.last().filter(|_| more).map(|last| {
            Cursor {
                created_at: last.created_at,
                id: last.id.clone(),
            }
            .encode()
        });
        Self {
            data: rows.iter().map(|row| row.summary(now)).collect(),
            next_cursor,
            limit,
        }
    }
}

/// An order as storage reads it.
#[derive(Clone, Debug, Deserialize)]
pub struct OrderRow {
    /// `ord_…`
    pub id: String,
    /// Its status.
    pub status: String,
    /// Minor units charged.
    pub amount_total: i64,
    /// Minor units refunded so far.
    pub amount_refunded: i64,
    /// Its currency.
    pub currency: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// When it was paid (ms).
    pub paid_at: Option<i64>,
    /// A JSON array of the products it holds.
    pub product_ids: Option<String>,
}

/// An order as the detail shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// `ord_…`
    pub id: String,
    /// Its status.
    pub status: String,
    /// Minor units charged.
    pub amount_total: i64,
    /// Minor units refunded so far.
    pub amount_refunded: i64,
    /// Its currency.
    pub currency: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// When it was paid (ms).
    pub paid_at: Option<i64>,
    /// The products it holds.
    pub product_ids: Vec<String>,
}

impl From<OrderRow> for OrderView {
    fn from(row: OrderRow) -> Self {
        let product_ids = row
            .product_ids
            .as_deref()
            .and_then(|ids| serde_json::from_str(ids).ok())
            .unwrap_or_default();
        Self {
            id: row.id,
            status: row.status,
            amount_total: row.amount_total,
            amount_refunded: row.amount_refunded,
            currency: row.currency,
            created_at: row.created_at,
            paid_at: row.paid_at,
            product_ids,
        }
    }
}

/// An entitlement as the detail shows it: from a paid order (`ent_…`, revocable while
/// active) or a subscription (`subr_…`, which follows the subscription's status).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all(serialize = "camelCase"))]
pub struct EntitlementView {
    /// `ent_…` or `subr_…`
    pub id: String,
    /// `order` or `subscription`.
    pub source: String,
    /// The product bought (orders).
    pub product_id: Option<String>,
    /// The tier's name (subscriptions).
    pub plan: Option<String>,
    /// `active`/`revoked` for orders; the subscription's status otherwise.
    pub status: String,
    /// Who took an order's entitlement back: `developer`, `refund` or `dispute`.
    pub revoked_by: Option<String>,
    /// When it was granted (ms).
    pub created_at: i64,
    /// When it was revoked (ms).
    pub revoked_at: Option<i64>,
}

/// A customer in full.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDetail {
    /// The list's row (its subscription replaced by the full one).
    #[serde(flatten)]
    pub summary: CustomerSummary,
    /// Units per UTC day over the last 30 days, oldest first (`[{ date, count }]`).
    pub usage_history: Value,
    /// Their orders, newest first (at most [`MAX_ORDERS`]).
    pub orders: Vec<OrderView>,
    /// Their entitlements, newest first (at most [`MAX_ENTITLEMENTS`]).
    pub entitlements: Vec<EntitlementView>,
}

/// The detail's parts as storage reads them.
#[derive(Debug)]
pub struct DetailRows {
    /// The customer and its standing.
    pub customer: StandingRow,
    /// Units per day: `[{ day, n }]`, `day` in days since 1970-01-01.
    pub days: Value,
    /// The newest orders.
    pub orders: Vec<OrderRow>,
    /// The newest entitlements.
    pub entitlements: Vec<EntitlementView>,
}

/// The detail at `now`: the subscription in full, the history zero-filled over the window.
#[must_use]
pub fn detail(rows: DetailRows, now: i64) -> Value {
    let DetailRows {
        customer,
        days,
        orders,
        entitlements,
    } = rows;
    let detail = CustomerDetail {
        summary: CustomerSummary {
            subscription: None,
            ..customer.summary(now)
        },
        usage_history: fill(Window::ending_at(now), &days),
        orders: orders.into_iter().map(OrderView::from).collect(),
        entitlements,
    };
    let mut value = serde_json::to_value(detail).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "subscription".to_owned(),
            serde_json::to_value(customer.subscription()).unwrap_or_default(),
        );
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::DAY_MS;
    use serde_json::json;

    const NOW: i64 = 1_764_547_200_000 + 5 * DAY_MS + 3_600_000; // 2025-12-06T01:00Z

    fn row(id: &str, created_at: i64) -> StandingRow {
        StandingRow {
            id: id.to_owned(),
            email: Some("ann@example.com".to_owned()),
            external_id: Some("u-1".to_owned()),
            first_name: None,
            last_name: None,
            created_at,
            plan: Some("free".to_owned()),
            usage_limit: Some(100),
            usage_count: 7,
            sub_id: None,
            sub_status: None,
            sub_tier: None,
            sub_period_start: None,
            sub_period_end: None,
            sub_cancel_at_period_end: None,
            sub_canceled_at: None,
            sub_amount: None,
            sub_currency: None,
            sub_interval: None,
        }
    }

    fn subscribed(status: &str, start: i64, end: i64) -> StandingRow {
        StandingRow {
            plan: Some("pro".to_owned()),
            usage_limit: None,
            sub_id: Some("subr_1".to_owned()),
            sub_status: Some(status.to_owned()),
            sub_tier: Some("pro".to_owned()),
            sub_period_start: Some(start),
            sub_period_end: Some(end),
            sub_cancel_at_period_end: Some(1),
            sub_canceled_at: None,
            sub_amount: Some(900),
            sub_currency: Some("usd".to_owned()),
            sub_interval: Some("month".to_owned()),
            ..row("cus_a", 1)
        }
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
        assert_eq!(
            query(&"é".repeat(MAX_SEARCH)).map(|s| s.chars().count()),
            Some(MAX_SEARCH)
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
        let rows = || vec![row("cus_c", 30), row("cus_b", 20), row("cus_a", 10)];

        let full = CustomerPage::from_rows(rows(), 2, NOW);
        let last = CustomerPage::from_rows(rows(), 3, NOW);

        assert_eq!(full.data.len(), 2);
        let next = Cursor::decode(full.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!((next.created_at, next.id.as_str()), (20, "cus_b"));
        assert_eq!((last.data.len(), last.next_cursor), (3, None));
    }

    #[test]
    fn without_a_deciding_subscription_usage_counts_in_the_calendar_month() {
        for customer in [
            row("cus_a", 1),
            subscribed("canceled", NOW - DAY_MS, NOW + DAY_MS),
        ] {
            let usage = customer.summary(NOW).usage;
            assert_eq!(
                (usage.period_start, usage.period_end),
                (1_764_547_200_000, 1_767_225_600_000),
                "{:?}",
                customer.sub_status
            );
        }
    }

    #[test]
    fn an_active_subscription_sets_the_period_rolled_forward_once_it_ended() {
        let start = NOW - 40 * DAY_MS;
        let customer = subscribed("active", start, start + 30 * DAY_MS);

        let usage = customer.summary(NOW).usage;

        assert_eq!(
            (usage.period_start, usage.period_end),
            (start + 30 * DAY_MS, start + 60 * DAY_MS)
        );
    }

    #[test]
    fn the_list_row_carries_plan_limit_usage_and_the_subscription_summary() {
        let row = json!(subscribed("trialing", NOW - DAY_MS, NOW + DAY_MS).summary(NOW));

        assert_eq!(row["plan"], "pro");
        assert_eq!(row["limit"], Value::Null, "unlimited");
        assert_eq!(row["usage"]["count"], 7);
        assert_eq!(
            row["subscription"],
            json!({ "status": "trialing", "tier": "pro", "currentPeriodEnd": NOW + DAY_MS, "cancelAtPeriodEnd": true })
        );
        assert_eq!(
            json!(row_without_subscription())["subscription"],
            Value::Null
        );
    }

    fn row_without_subscription() -> CustomerSummary {
        row("cus_a", 1).summary(NOW)
    }

    #[test]
    fn the_detail_has_the_full_subscription_a_zero_filled_history_and_orders() {
        let today = crate::dashboard::day_of(NOW);
        let rows = DetailRows {
            customer: subscribed("active", NOW - DAY_MS, NOW + DAY_MS),
            days: json!([{ "day": today, "n": 7 }, { "day": today - 40, "n": 3 }]),
            orders: vec![OrderRow {
                id: "ord_1".to_owned(),
                status: "paid".to_owned(),
                amount_total: 1500,
                amount_refunded: 400,
                currency: "usd".to_owned(),
                created_at: 5,
                paid_at: Some(6),
                product_ids: Some(r#"["prd_1","prd_2"]"#.to_owned()),
            }],
            entitlements: vec![],
        };

        let detail = detail(rows, NOW);

        let history = detail["usageHistory"].as_array().unwrap();
        assert_eq!(history.len(), 30);
        assert_eq!(history[29]["count"], 7, "today is the last point");
        assert_eq!(
            history
                .iter()
                .map(|d| d["count"].as_u64().unwrap())
                .sum::<u64>(),
            7,
            "days outside the window are dropped"
        );
        assert_eq!(detail["subscription"]["amount"], 900);
        assert_eq!(detail["subscription"]["tier"], "pro");
        assert_eq!(detail["orders"][0]["productIds"], json!(["prd_1", "prd_2"]));
    }
}
