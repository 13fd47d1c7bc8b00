//! The dashboard: what a developer reads about one project, or about all of their projects of
//! one mode — customers, subscriptions and MRR, usage this period, store sales and stock,
//! Stripe event outcomes and 30-day series — and the dream-api-shaped summary
//! `GET /api/dashboard` answers beside it.
//!
//! Every number is a SQL aggregate (`tollgate_edge::db::dashboard`); each statement answers
//! one JSON document. Sections that need no rule pass through as SQL shaped them; the rules
//! live here, tested natively: MRR normalisation and its rounding, money kept per currency
//! (never summed across currencies), UTC day bucketing and zero-filled series.

use crate::project::Mode;
use crate::usage::civil_from_days;
use serde_json::{Map, Value};

/// One UTC day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// How many UTC days the series cover, today included.
pub const SERIES_DAYS: i64 = 30;

/// The UTC day (days since 1970-01-01) a time in milliseconds falls on.
#[must_use]
pub const fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// A UTC day as `YYYY-MM-DD`.
#[must_use]
pub fn date(day: i64) -> String {
    let (year, month, day) = civil_from_days(day);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The mode `GET /v1/dashboard?mode=` asks for: `live` unless it says `test`.
///
/// # Errors
/// A reason fit for `fieldErrors.mode` when `mode` is given but is neither.
pub fn requested_mode<'a>(
    mut query: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<Mode, &'static str> {
    match query.find(|(name, _)| *name == "mode") {
        None => Ok(Mode::Live),
        Some((_, value)) => Mode::parse(value).ok_or("must be test or live"),
    }
}

/// The days the series cover: [`SERIES_DAYS`] UTC days ending with today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The first day (days since 1970-01-01).
    pub first: i64,
    /// The last day, today.
    pub last: i64,
}

impl Window {
    /// The window ending on the UTC day of `now`.
    #[must_use]
    pub const fn ending_at(now: i64) -> Self {
        let last = day_of(now);
        Self {
            first: last - (SERIES_DAYS - 1),
            last,
        }
    }

    /// The first millisecond of the window: SQL counts rows at or after it.
    #[must_use]
    pub const fn since_ms(self) -> i64 {
        self.first * DAY_MS
    }

    fn slot(self, day: i64) -> Option<usize> {
        if day < self.first || day > self.last {
            return None;
        }
        usize::try_from(day - self.first).ok()
    }

    fn len(self) -> usize {
        usize::try_from(self.last - self.first + 1).unwrap_or(0)
    }

    fn dates(self) -> impl Iterator<Item = String> {
        (self.first..=self.last).map(date)
    }
}

// Reading SQL's JSON: a missing or mistyped field reads as zero or empty, never a panic.

fn uint(row: &Value, key: &str) -> u64 {
    row.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn int(row: &Value, key: &str) -> i64 {
    row.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn take(section: &mut Value, key: &str) -> Value {
    section.get_mut(key).map(Value::take).unwrap_or_default()
}

fn rows(section: &Value) -> &[Value] {
    section.as_array().map_or(&[], Vec::as_slice)
}

/// An amount of one currency, in its minor units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Money {
    /// ISO currency code, lower case as Stripe writes it.
    pub currency: String,
    /// Minor units.
    pub amount: i64,
}

/// `[{ currency, amount }]`.
fn money_json(list: &[Money]) -> Value {
    list.iter()
        .map(|m| {
            object(vec![
                ("currency", m.currency.as_str().into()),
                ("amount", m.amount.into()),
            ])
        })
        .collect()
}

/// Adds `amount` to `currency`'s entry, keeping the list sorted by currency code (a project
/// sees a handful of currencies, so a sorted list beats a map).
fn add_money(list: &mut Vec<Money>, currency: &str, amount: i64) {
    match list.binary_search_by(|m| m.currency.as_str().cmp(currency)) {
        Ok(at) => list[at].amount += amount,
        Err(at) => list.insert(
            at,
            Money {
                currency: currency.to_owned(),
                amount,
            },
        ),
    }
}

/// Subscriptions by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subscriptions {
    /// Paying (`active`), canceling ones included.
    pub active: u64,
    /// In a free trial.
    pub trialing: u64,
    /// Active or trialing, set to cancel at the end of the period.
    pub canceling: u64,
    /// Renewal failed; not counted in MRR.
    pub past_due: u64,
}

/// Subscription counts and MRR from subscriptions grouped by SQL into
/// `{ status, interval, currency, canceling, n, amount }` (amount: the group's sum per interval).
///
/// MRR counts `active` subscriptions (canceling ones too: they pay until their period ends);
/// trials and past-due renewals bring no revenue yet. Monthly amounts count in full. Yearly
/// amounts are summed per currency first, then divided by 12 and rounded half up to the minor
/// unit, so each currency's MRR is at most half a minor unit from the exact value. One entry
/// per currency, sorted by code; amounts of different currencies are never added together.
#[must_use]
pub fn subscription_stats(groups: &Value) -> (Subscriptions, Vec<Money>) {
    let mut counts = Subscriptions::default();
    let mut monthly = Vec::new();
    let mut yearly = Vec::new();
    for group in rows(groups) {
        let n = uint(group, "n");
        match text(group, "status") {
            "active" => counts.active += n,
            "trialing" => counts.trialing += n,
            "past_due" => {
                counts.past_due += n;
                continue;
            }
            _ => continue,
        }
        if int(group, "canceling") == 1 {
            counts.canceling += n;
        }
        if text(group, "status") == "active" {
            let sums = if text(group, "interval") == "year" {
                &mut yearly
            } else {
                &mut monthly
            };
            add_money(sums, text(group, "currency"), int(group, "amount"));
        }
    }
    for year in yearly {
        add_money(&mut monthly, &year.currency, monthly_share(year.amount));
    }
    (counts, monthly)
}

/// One twelfth of a yearly amount, rounded half up (amounts are never negative).
#[must_use]
pub const fn monthly_share(yearly: i64) -> i64 {
    (yearly + 6).div_euclid(12)
}

/// Counts per day (`[{ day, n }]`, `day` in days since 1970-01-01) over the window as
/// `[{ date, count }]`: every day present, oldest first, days without rows 0, rows outside
/// the window dropped.
#[must_use]
pub fn fill(window: Window, days: &Value) -> Value {
    fill_counts(window, days, false)
}

/// Units per day (`[{ day, n, current }]`) over the window as `[{ date, count,
/// currentPeriod }]`, zero-filled as [`fill`]: `count` every unit counted that day, in
/// whichever period; `currentPeriod` the part counted into the period each end user is in
/// now. A period that began today holds only today's units counted since it began, so the
/// day a subscription starts (or renews) shows both figures apart; summed over the days,
/// `currentPeriod` is what "this period" counts, for periods that began inside the window.
#[must_use]
pub fn fill_usage(window: Window, days: &Value) -> Value {
    fill_counts(window, days, true)
}

fn fill_counts(window: Window, days: &Value, current: bool) -> Value {
    let mut counts = vec![(0_u64, 0_u64); window.len()];
    for row in rows(days) {
        if let Some(slot) = window.slot(int(row, "day")) {
            counts[slot].0 += uint(row, "n");
            counts[slot].1 += uint(row, "current");
        }
    }
    window
        .dates()
        .zip(counts)
        .map(|(date, (count, in_period))| {
            let mut fields = vec![("date", date.into()), ("count", count.into())];
            if current {
                fields.push(("currentPeriod", in_period.into()));
            }
            object(fields)
        })
        .collect()
}

/// One day of one currency's line: store money, subscription money, paid orders.
type DayMoney = (i64, i64, u64);

/// Money per day and currency (`[{ day, currency, n, store, subscriptions }]`: paid orders'
/// count and net amount, subscription invoices' net amount) over the window as
/// `[{ currency, points: [{ date, amount, orders, storeAmount, subscriptionAmount }] }]`,
/// `amount` the day's whole revenue (store and subscriptions): one zero-filled line per
/// currency seen inside the window, sorted by currency.
#[must_use]
pub fn fill_money(window: Window, days: &Value) -> Value {
    let mut lines: Vec<(&str, Vec<DayMoney>)> = Vec::new();
    for row in rows(days) {
        let Some(slot) = window.slot(int(row, "day")) else {
            continue;
        };
        let currency = text(row, "currency");
        let at = match lines.binary_search_by(|(c, _)| (*c).cmp(currency)) {
            Ok(at) => at,
            Err(at) => {
                lines.insert(at, (currency, vec![(0, 0, 0); window.len()]));
                at
            }
        };
        let point = &mut lines[at].1[slot];
        point.0 += int(row, "store");
        point.1 += int(row, "subscriptions");
        point.2 += uint(row, "n");
    }
    lines
        .into_iter()
        .map(|(currency, line)| {
            let points: Value = window
                .dates()
                .zip(line)
                .map(|(date, (store, subscriptions, orders))| {
                    object(vec![
                        ("date", date.into()),
                        ("amount", (store + subscriptions).into()),
                        ("orders", orders.into()),
                        ("storeAmount", store.into()),
                        ("subscriptionAmount", subscriptions.into()),
                    ])
                })
                .collect();
            object(vec![("currency", currency.into()), ("points", points)])
        })
        .collect()
}

/// Paid orders per currency (`[{ currency, n, amount }]`): the totals, one entry per
/// currency sorted by code, and how many orders.
#[must_use]
pub fn per_currency(totals: &Value) -> (Vec<Money>, u64) {
    let mut money = Vec::new();
    let mut orders = 0;
    for row in rows(totals) {
        add_money(&mut money, text(row, "currency"), int(row, "amount"));
        orders += uint(row, "n");
    }
    (money, orders)
}

/// What each statement of the dashboard batch answered, one JSON document each (shapes in
/// `tollgate_edge::db::dashboard`).
#[derive(Clone, Debug, Default)]
pub struct Aggregates {
    /// `[{ id, name, type, mode }]`: the projects covered (empty: none, or not the caller's).
    pub projects: Value,
    /// `{ total, newLast30Days }`.
    pub customers: Value,
    /// Subscriptions grouped, for [`subscription_stats`].
    pub subscriptions: Value,
    /// Tiers with their subscribers, as answered.
    pub tiers: Value,
    /// `{ total, byTier, topEndUsers }`: usage in each end user's current period.
    pub usage: Value,
    /// Units per day and the part in current periods, for [`fill_usage`].
    pub usage_days: Value,
    /// End users created per day, for [`fill`].
    pub customer_days: Value,
    /// Paid orders per currency, for [`per_currency`].
    pub revenue: Value,
    /// Paid orders and subscription invoices per day and currency, for [`fill_money`].
    pub revenue_days: Value,
    /// `{ products, unlimitedProducts, inventory, soldOut, lowStock, unitsSold, needsAttention,
    /// soldOutItems }`.
    pub stock: Value,
    /// `{ lastEventAt, recent, dreamApi }`: the newest Stripe events in both shapes.
    pub events: Value,
    /// `{ applied, stale, unrelated, unhandled }` inside the window.
    pub outcomes: Value,
}

/// A JSON object from its fields, moved in (no copy of the values). Inserted one by one:
/// collecting would sort the pairs first, which costs the wasm build a sort routine.
fn object(fields: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    for (name, value) in fields {
        map.insert(name.to_owned(), value);
    }
    Value::Object(map)
}

/// The dashboard of `mode` as of `now` (`Dashboard` in `schemas/openapi.yaml`): the rules
/// applied to the sections that need them, the others as SQL shaped them.
#[must_use]
pub fn dashboard(mode: &str, mut agg: Aggregates, now: i64) -> Value {
    let window = Window::ending_at(now);
    let (subscriptions, mrr) = subscription_stats(&agg.subscriptions);
    let (revenue, orders) = per_currency(&agg.revenue);
    let mut store = match agg.stock {
        stock @ Value::Object(_) => stock,
        _ => object(vec![]),
    };
    store["revenue"] = money_json(&revenue);
    store["orders"] = orders.into();
    object(vec![
        ("mode", mode.into()),
        ("projects", agg.projects),
        ("generatedAt", now.into()),
        ("customers", agg.customers),
        (
            "subscriptions",
            object(vec![
                ("active", subscriptions.active.into()),
                ("trialing", subscriptions.trialing.into()),
                ("canceling", subscriptions.canceling.into()),
                ("pastDue", subscriptions.past_due.into()),
            ]),
        ),
        ("mrr", money_json(&mrr)),
        ("tiers", agg.tiers),
        ("usage", agg.usage),
        ("store", store),
        (
            "webhooks",
            object(vec![
                ("lastEventAt", take(&mut agg.events, "lastEventAt")),
                ("outcomes", agg.outcomes),
                ("recent", take(&mut agg.events, "recent")),
            ]),
        ),
        (
            "series",
            object(vec![
                ("from", date(window.first).into()),
                ("to", date(window.last).into()),
                ("usage", fill_usage(window, &agg.usage_days)),
                ("newCustomers", fill(window, &agg.customer_days)),
                ("revenue", fill_money(window, &agg.revenue_days)),
            ]),
        ),
    ])
}

/// What dream-api's shape adds, each statement one JSON document already in its shape.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// The newest customers (dream-api's `customers[]`).
    pub customers: Value,
    /// dream-api's `keys` (metadata only, never a secret).
    pub keys: Value,
    /// The catalog in dream-api's tier shape (tiers, or a store's products).
    pub catalog: Value,
}

/// What the numbers of `GET /api/dashboard` cover.
#[derive(Clone, Copy, Debug)]
pub struct Filters<'a> {
    /// `test` or `live`.
    pub mode: &'a str,
    /// The project.
    pub project_id: &'a str,
    /// Its publishable key.
    pub publishable_key: &'a str,
}

/// The amount of the currency with the largest amount (ties: the first code) and that
/// currency, from `[{ currency, amount }]`; 0 and null when empty.
fn leading(money: &Value) -> (i64, Value) {
    rows(money)
        .iter()
        .fold(None::<&Value>, |best, m| match best {
            Some(b) if int(b, "amount") >= int(m, "amount") => Some(b),
            _ => Some(m),
        })
        .map_or((0, Value::Null), |m| {
            (int(m, "amount"), m["currency"].clone())
        })
}

/// `GET /api/dashboard`: the dashboard in `data` and dream-api's `metrics`, `customers`,
/// `tiers`, `keys`, `webhook` and `filters` beside it, computed from the same aggregates so
/// the two can never disagree. `metrics.mrr` and `metrics.storeTotalRevenue` are single
/// numbers, as dream-api's were: the currency with the largest amount, named beside them.
#[must_use]
pub fn dream_api(mut agg: Aggregates, extras: Extras, filters: Filters<'_>, now: i64) -> Value {
    let recent = take(&mut agg.events, "dreamApi");
    let data = dashboard(filters.mode, agg, now);
    let (mrr, mrr_currency) = leading(&data["mrr"]);
    let store = &data["store"];
    let (revenue, revenue_currency) = leading(&store["revenue"]);
    let subscriptions = &data["subscriptions"];
    let metrics = object(vec![
        ("activeSubs", subscriptions["active"].clone()),
        ("cancelingSubs", subscriptions["canceling"].clone()),
        ("trialingSubs", subscriptions["trialing"].clone()),
        ("mrr", mrr.into()),
        ("mrrCurrency", mrr_currency),
        ("usageThisPeriod", data["usage"]["total"].clone()),
        ("totalCustomers", data["customers"]["total"].clone()),
        ("storeSalesCount", store["orders"].clone()),
        ("storeTotalRevenue", revenue.into()),
        ("storeRevenueCurrency", revenue_currency),
        ("lowStockProducts", store["lowStock"].clone()),
        ("totalInventory", store["inventory"].clone()),
        ("totalProducts", store["products"].clone()),
    ]);
    let webhook = object(vec![
        ("lastEventAt", data["webhooks"]["lastEventAt"].clone()),
        ("recent", recent),
    ]);
    object(vec![
        ("metrics", metrics),
        ("customers", extras.customers),
        ("tiers", extras.catalog),
        ("keys", extras.keys),
        ("webhook", webhook),
        (
            "filters",
            object(vec![
                ("mode", filters.mode.into()),
                ("projectId", filters.project_id.into()),
                ("publishableKey", filters.publishable_key.into()),
            ]),
        ),
        ("data", data),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::days_from_civil;
    use serde_json::json;

    /// 2026-11-23T09:20:00Z
    const NOW: i64 = 1_795_425_600_000;

    fn money(currency: &str, amount: i64) -> Money {
        Money {
            currency: currency.to_owned(),
            amount,
        }
    }

    fn group(status: &str, interval: &str, currency: &str, n: u64, amount: i64) -> Value {
        json!({ "status": status, "interval": interval, "currency": currency, "canceling": 0, "n": n, "amount": amount })
    }

    #[test]
    fn two_monthly_subscriptions_and_one_yearly_make_the_issues_mrr_of_38() {
        let groups = json!([
            group("active", "month", "usd", 2, 900 + 1900),
            group("active", "year", "usd", 1, 12_000),
        ]);

        let (counts, mrr) = subscription_stats(&groups);

        assert_eq!(mrr, vec![money("usd", 3800)]);
        assert_eq!(counts.active, 3);
    }

    #[test]
    fn yearly_amounts_are_summed_before_the_division_and_rounded_half_up() {
        let cases = [
            // (yearly amounts summed per currency, monthly share)
            (12_000, 1000),
            (1000, 83),  // 83.33
            (1002, 84),  // 83.5 rounds up
            (2000, 167), // two 10.00/year: 166.67, not 83 + 83
            (11, 1),     // 0.92
            (5, 0),      // 0.42
            (0, 0),
        ];
        for (yearly, share) in cases {
            assert_eq!(monthly_share(yearly), share, "{yearly}/12");
        }
        let (_, mrr) = subscription_stats(&json!([group("active", "year", "usd", 2, 2000)]));
        assert_eq!(mrr, vec![money("usd", 167)]);
    }

    #[test]
    fn each_currency_has_its_own_mrr_entry_sorted_by_code_and_never_summed_across() {
        let groups = json!([
            group("active", "month", "usd", 1, 900),
            group("active", "month", "eur", 1, 500),
            group("active", "year", "eur", 1, 6000),
            group("active", "year", "gbp", 1, 1200),
        ]);

        let (_, mrr) = subscription_stats(&groups);

        assert_eq!(
            mrr,
            vec![money("eur", 1000), money("gbp", 100), money("usd", 900)]
        );
    }

    #[test]
    fn trials_and_past_due_renewals_are_counted_but_bring_no_mrr_and_canceling_still_pays() {
        let mut canceling = group("active", "month", "usd", 1, 1900);
        canceling["canceling"] = json!(1);
        let mut canceling_trial = group("trialing", "month", "usd", 2, 1800);
        canceling_trial["canceling"] = json!(1);
        let groups = json!([
            group("active", "month", "usd", 1, 900),
            canceling,
            canceling_trial,
            group("trialing", "month", "usd", 1, 900),
            group("past_due", "month", "usd", 4, 3600),
        ]);

        let (counts, mrr) = subscription_stats(&groups);

        assert_eq!(
            counts,
            Subscriptions {
                active: 2,
                trialing: 3,
                canceling: 3,
                past_due: 4
            }
        );
        assert_eq!(mrr, vec![money("usd", 2800)]);
    }

    #[test]
    fn no_paying_subscription_means_no_mrr_entry_and_odd_input_reads_as_nothing() {
        let (counts, mrr) = subscription_stats(&json!([group("trialing", "month", "usd", 1, 900)]));
        assert!(mrr.is_empty());
        assert_eq!(counts.trialing, 1);
        for odd in [
            json!(null),
            json!({}),
            json!([{}]),
            json!([{ "status": "active" }]),
        ] {
            let (counts, _) = subscription_stats(&odd);
            assert_eq!(counts, Subscriptions::default(), "{odd}");
        }
    }

    #[test]
    fn the_mode_defaults_to_live_and_only_test_or_live_is_accepted() {
        let ask = |pairs: &[(&'static str, &'static str)]| requested_mode(pairs.iter().copied());
        assert_eq!(ask(&[]), Ok(Mode::Live));
        assert_eq!(ask(&[("page", "2")]), Ok(Mode::Live));
        assert_eq!(ask(&[("mode", "test")]), Ok(Mode::Test));
        assert_eq!(ask(&[("mode", "live")]), Ok(Mode::Live));
        for bad in ["", "LIVE", "both", "test,live"] {
            assert_eq!(
                ask(&[("mode", bad)]),
                Err("must be test or live"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_day_runs_from_utc_midnight_to_its_last_millisecond() {
        let midnight = days_from_civil(2026, 11, 23) * DAY_MS;
        assert_eq!(date(day_of(midnight)), "2026-11-23");
        assert_eq!(date(day_of(midnight - 1)), "2026-11-22");
        assert_eq!(date(day_of(midnight + DAY_MS - 1)), "2026-11-23");
        assert_eq!(date(day_of(-1)), "1969-12-31");
    }

    #[test]
    fn the_window_is_thirty_utc_days_ending_today() {
        let window = Window::ending_at(NOW);

        assert_eq!(date(window.last), "2026-11-23");
        assert_eq!(date(window.first), "2026-10-25");
        assert_eq!(window.len(), 30);
        assert_eq!(window.since_ms(), days_from_civil(2026, 10, 25) * DAY_MS);
    }

    #[test]
    fn series_are_zero_filled_with_each_value_on_its_day_and_strays_dropped() {
        let today = day_of(NOW);
        let days = json!([
            { "day": today, "n": 7 },
            { "day": today - 10, "n": 3 },
            { "day": today - 30, "n": 99 }, // before the window
            { "day": today + 1, "n": 99 },  // after it (a clock ahead)
        ]);

        let series = fill(Window::ending_at(NOW), &days);

        let points = series.as_array().unwrap();
        assert_eq!(points.len(), 30);
        assert_eq!(points[0], json!({ "date": "2026-10-25", "count": 0 }));
        assert_eq!(points[29], json!({ "date": "2026-11-23", "count": 7 }));
        assert_eq!(points[19], json!({ "date": "2026-11-13", "count": 3 }));
        let total: u64 = points.iter().map(|p| uint(p, "count")).sum();
        assert_eq!(total, 10);
        let empty = fill(Window::ending_at(NOW), &json!([]));
        assert!(empty.as_array().unwrap().iter().all(|p| p["count"] == 0));
    }

    #[test]
    fn the_usage_series_shows_each_days_units_and_the_part_the_current_periods_hold() {
        let today = day_of(NOW);
        // 100 units on the free month, then an upgrade started a paid period: 3 more.
        let days = json!([
            { "day": today, "n": 103, "current": 3 },
            { "day": today - 2, "n": 5, "current": 0 },
        ]);

        let series = fill_usage(Window::ending_at(NOW), &days);

        let points = series.as_array().unwrap();
        assert_eq!(
            points[29],
            json!({ "date": "2026-11-23", "count": 103, "currentPeriod": 3 })
        );
        assert_eq!(
            points[0],
            json!({ "date": "2026-10-25", "count": 0, "currentPeriod": 0 })
        );
        let in_periods: u64 = points.iter().map(|p| uint(p, "currentPeriod")).sum();
        assert_eq!(in_periods, 3);
    }

    #[test]
    fn revenue_series_keep_one_zero_filled_line_per_currency() {
        let today = day_of(NOW);
        let days = json!([
            { "day": today - 10, "currency": "usd", "n": 2, "store": 3000, "subscriptions": 0 },
            { "day": today, "currency": "usd", "n": 1, "store": 1500, "subscriptions": 1900 },
            { "day": today, "currency": "eur", "n": 1, "store": 700, "subscriptions": 0 },
            { "day": today - 40, "currency": "gbp", "n": 1, "store": 100, "subscriptions": 0 }, // outside: no line
        ]);

        let series = fill_money(Window::ending_at(NOW), &days);

        let lines = series.as_array().unwrap();
        let currencies: Vec<&str> = lines.iter().map(|l| text(l, "currency")).collect();
        assert_eq!(currencies, ["eur", "usd"]);
        let usd_line = lines[1]["points"].as_array().unwrap();
        assert_eq!(usd_line.len(), 30);
        assert_eq!(
            usd_line[19],
            json!({ "date": "2026-11-13", "amount": 3000, "orders": 2, "storeAmount": 3000, "subscriptionAmount": 0 })
        );
        assert_eq!(
            usd_line[29],
            json!({ "date": "2026-11-23", "amount": 3400, "orders": 1, "storeAmount": 1500, "subscriptionAmount": 1900 }),
            "a day's amount is its store and subscription money together"
        );
        assert_eq!(
            usd_line[0],
            json!({ "date": "2026-10-25", "amount": 0, "orders": 0, "storeAmount": 0, "subscriptionAmount": 0 })
        );
        assert_eq!(lines[0]["points"][29]["amount"], 700);
    }

    #[test]
    fn money_is_totalled_per_currency() {
        let totals = json!([
            { "currency": "usd", "n": 2, "amount": 3000 },
            { "currency": "eur", "n": 1, "amount": 700 },
        ]);

        let (money_list, orders) = per_currency(&totals);

        assert_eq!(orders, 3);
        assert_eq!(money_list, vec![money("eur", 700), money("usd", 3000)]);
    }

    #[test]
    fn dream_apis_single_number_is_the_largest_currency_and_names_it() {
        let list = |a, b| money_json(&[money("eur", a), money("usd", b)]);
        assert_eq!(leading(&list(500, 900)), (900, json!("usd")));
        assert_eq!(leading(&list(500, 500)), (500, json!("eur")));
        assert_eq!(leading(&json!([])), (0, Value::Null));
    }

    fn aggregates() -> Aggregates {
        let today = day_of(NOW);
        Aggregates {
            projects: json!([{ "id": "prj_a", "name": "App", "type": "saas", "mode": "live" }]),
            customers: json!({ "total": 3, "newLast30Days": 2 }),
            subscriptions: json!([
                group("active", "month", "usd", 2, 2800),
                group("active", "year", "usd", 1, 12_000),
            ]),
            tiers: json!([{ "id": "tier_pro", "subscribers": 3 }]),
            usage: json!({
                "total": 42,
                "byTier": [{ "tierId": "tier_pro", "name": "pro", "endUsers": 2, "count": 42 }],
                "topEndUsers": [{ "endUserId": "cus_1", "count": 30 }],
            }),
            usage_days: json!([{ "day": today, "n": 45, "current": 42 }]),
            customer_days: json!([{ "day": today - 1, "n": 2 }]),
            revenue: json!([{ "currency": "usd", "n": 2, "amount": 4500 }]),
            revenue_days: json!([{ "day": today, "currency": "usd", "n": 2, "store": 4500, "subscriptions": 0 }]),
            stock: json!({
                "products": 2, "unlimitedProducts": 0, "inventory": 7, "soldOut": 1, "lowStock": 0,
                "unitsSold": 3, "soldOutItems": [{ "id": "prod_1" }],
            }),
            events: json!({
                "lastEventAt": NOW - 1,
                "recent": [{ "id": "evt_1", "type": "invoice.paid", "outcome": "applied", "livemode": true, "created": NOW - 5, "receivedAt": NOW - 1 }],
                "dreamApi": [{ "id": "evt_1", "type": "invoice.paid", "outcome": "applied", "createdAt": NOW - 1 }],
            }),
            outcomes: json!({ "applied": 4, "stale": 1, "unrelated": 0, "unhandled": 0 }),
        }
    }

    #[test]
    fn the_dashboard_applies_the_rules_and_passes_the_rest_through() {
        let body = dashboard("live", aggregates(), NOW);

        assert_eq!(body["mode"], "live");
        assert_eq!(body["mrr"], json!([{ "currency": "usd", "amount": 3800 }]));
        assert_eq!(
            body["subscriptions"],
            json!({ "active": 3, "trialing": 0, "canceling": 0, "pastDue": 0 })
        );
        assert_eq!(body["usage"]["total"], 42);
        assert_eq!(body["usage"]["topEndUsers"][0]["endUserId"], "cus_1");
        assert_eq!(
            body["store"]["revenue"],
            json!([{ "currency": "usd", "amount": 4500 }])
        );
        assert_eq!(body["store"]["orders"], 2);
        assert_eq!(body["store"]["unitsSold"], 3);
        assert_eq!(body["store"]["soldOutItems"][0]["id"], "prod_1");
        assert_eq!(body["webhooks"]["lastEventAt"], NOW - 1);
        assert_eq!(body["webhooks"]["recent"][0]["type"], "invoice.paid");
        assert!(body["webhooks"].get("dreamApi").is_none());
        assert_eq!(body["series"]["from"], "2026-10-25");
        assert_eq!(
            body["series"]["usage"][29],
            json!({ "date": "2026-11-23", "count": 45, "currentPeriod": 42 })
        );
        assert_eq!(body["series"]["newCustomers"][28]["count"], 2);
        assert_eq!(body["series"]["revenue"][0]["points"][29]["amount"], 4500);
        assert_eq!(body["projects"][0]["type"], "saas");
    }

    #[test]
    fn a_missing_stock_document_still_answers_a_store_section() {
        let agg = Aggregates {
            stock: Value::Null,
            ..Aggregates::default()
        };

        let body = dashboard("test", agg, NOW);

        assert_eq!(body["store"]["orders"], 0);
        assert_eq!(body["store"]["revenue"], json!([]));
        assert_eq!(body["mrr"], json!([]));
        assert_eq!(body["series"]["usage"].as_array().map(Vec::len), Some(30));
    }

    #[test]
    fn dream_apis_fields_sit_beside_ours_computed_from_the_same_aggregates() {
        let filters = Filters {
            mode: "live",
            project_id: "prj_a",
            publishable_key: "pk_live_x",
        };
        let extras = Extras {
            keys: json!({ "secretKeyMasked": "sk_live_…abcd" }),
            ..Extras::default()
        };

        let body = dream_api(aggregates(), extras, filters, NOW);

        assert_eq!(body["metrics"]["mrr"], 3800);
        assert_eq!(body["metrics"]["mrrCurrency"], "usd");
        assert_eq!(body["metrics"]["activeSubs"], 3);
        assert_eq!(body["metrics"]["usageThisPeriod"], 42);
        assert_eq!(body["metrics"]["totalCustomers"], 3);
        assert_eq!(body["metrics"]["storeTotalRevenue"], 4500);
        assert_eq!(body["metrics"]["storeSalesCount"], 2);
        assert_eq!(body["keys"]["secretKeyMasked"], "sk_live_…abcd");
        assert_eq!(body["webhook"]["lastEventAt"], NOW - 1);
        assert_eq!(body["webhook"]["recent"][0]["createdAt"], NOW - 1);
        assert_eq!(
            body["filters"],
            json!({ "mode": "live", "projectId": "prj_a", "publishableKey": "pk_live_x" })
        );
        assert_eq!(body["data"]["mrr"][0]["amount"], 3800);
        assert!(body["data"]["webhooks"].get("dreamApi").is_none());
    }
}
