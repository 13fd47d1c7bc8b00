//! The dashboard's aggregates: every number is a SQL aggregate (`COUNT`, `SUM`, `GROUP BY`)
//! or a short `LIMIT`ed list, all read in ONE `db.batch` — one round trip, one consistent
//! snapshot. The same statements serve one project (`GET /api/dashboard`,
//! `GET /v1/projects/{id}/dashboard`) and all of a developer's projects of one mode
//! (`GET /v1/dashboard`): only the `scope` CTE that opens each statement differs.
//!
//! Each statement answers one row with one column, `j`: a JSON document (`json_object`,
//! `json_group_array`) in the shape the dashboard shows, so the worker reads one string per
//! statement instead of deserializing rows; the core (`tollgate::dashboard`) applies the
//! rules (MRR, series, money per currency) to the sections that need them.
//!
//! Query count per call: [`AGGREGATES`] (12 statements) for the platform routes;
//! [`AGGREGATES`] + [`DREAM_API_EXTRAS`] (15) for `GET /api/dashboard`.

use super::usage::period_start;
use super::{int, text};
use crate::ApiError;
use serde_json::Value;
use tollgate::Mode;
use tollgate::dashboard::{Aggregates, Extras, Window};
use tollgate::usage::Period;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

/// Which projects the numbers cover.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// One project of the platform (another platform's or a deleted one: nothing).
    Project {
        /// The owner.
        platform_id: &'a str,
        /// The project.
        project_id: &'a str,
    },
    /// Every live (not deleted) project of the platform in one mode: test and live never mix.
    Platform {
        /// The owner.
        platform_id: &'a str,
        /// The mode.
        mode: Mode,
    },
}

impl Scope<'_> {
    /// The CTE body naming the covered project ids, binding ?1 and ?2.
    const fn sql(self) -> &'static str {
        match self {
            Self::Project { .. } => {
                "SELECT id FROM projects WHERE id = ?1 AND platform_id = ?2 AND deleted_at IS NULL"
            }
            Self::Platform { .. } => {
                "SELECT id FROM projects WHERE platform_id = ?1 AND mode = ?2 AND deleted_at IS NULL"
            }
        }
    }

    fn params(self) -> [JsValue; 2] {
        match self {
            Self::Project {
                platform_id,
                project_id,
            } => [text(project_id), text(platform_id)],
            Self::Platform { platform_id, mode } => [text(platform_id), text(mode.as_str())],
        }
    }
}

/// One statement after the `scope` CTE, and how many of the shared parameters it binds:
/// ?1 ?2 the scope, ?3 the calendar month's start (the period of end users without a
/// subscription), ?4 the series window's first millisecond, ?5 now — ?3 and ?5 as the
/// metered call numbers them, so both read periods through the same `period_start!`. A statement binds the
/// first `arity` of them (SQLite counts parameters up to the highest number used).
#[derive(Clone, Copy, Debug)]
pub struct Statement {
    body: &'static str,
    arity: usize,
}

/// A SQL truth value as a JSON boolean.
macro_rules! boolean {
    ($e:literal) => {
        concat!("json(iif(", $e, ", 'true', 'false'))")
    };
}
pub(crate) use boolean;

/// A time in ms as RFC 3339 with milliseconds (NULL stays NULL), as `/api/usage` writes it.
macro_rules! rfc3339 {
    ($e:literal) => {
        concat!(
            "strftime('%Y-%m-%dT%H:%M:%fZ', ",
            $e,
            " / 1000.0, 'unixepoch')"
        )
    };
}

/// A tier's limit as the API writes it: a number, or `"unlimited"` for NULL.
macro_rules! limit {
    ($e:literal) => {
        concat!(
            "CASE WHEN ",
            $e,
            " IS NULL THEN 'unlimited' ELSE ",
            $e,
            " END"
        )
    };
}

/// Each end user's standing now, for the end users in a `who` CTE (id, project_id, plan,
/// email, external_id): the tier that applies and the start of the period a call counts in
/// — the rules of the metered call (`db::usage`): an active or trialing subscription's tier
/// (even archived), else the assigned tier, else the project's default.
macro_rules! standing {
    () => {
        concat!(
            ", standing AS (
  SELECT who.id AS end_user_id, who.project_id, who.email, who.external_id,
    CASE WHEN s.id IS NOT NULL THEN s.tier_id ELSE COALESCE(
      (SELECT t.id FROM tiers t WHERE t.project_id = who.project_id AND t.archived_at IS NULL AND t.name = who.plan),
      (SELECT t.id FROM tiers t WHERE t.project_id = who.project_id AND t.archived_at IS NULL AND t.is_default = 1)
    ) END AS tier_id,
    ",
            period_start!(),
            concat!(" AS period_start
  FROM who LEFT JOIN (SELECT id, tier_id, current_period_start AS ps, current_period_end AS pe
    FROM subscriptions) s ON s.id = (
    SELECT id FROM subscriptions WHERE project_id = who.project_id AND end_user_id = who.id
      AND status IN ", giving_access!(), " ORDER BY current_period_end DESC LIMIT 1)
)")
        )
    };
}
pub(crate) use standing;

/// `cur`: every end user counted in their current period, with their tier, count and the
/// period's start.
macro_rules! current_usage {
    () => {
        concat!(
            ", who AS (
  SELECT DISTINCT e.id, e.project_id, e.plan, e.email, e.external_id
  FROM usage_counters uc JOIN end_users e ON e.id = uc.end_user_id AND e.deleted_at IS NULL
  WHERE uc.project_id IN (SELECT id FROM scope) AND uc.period_end > ?5 AND uc.count > 0
)",
            standing!(),
            ", cur AS (
  SELECT st.end_user_id, st.project_id, st.period_start, st.email, st.external_id, st.tier_id, uc.count
  FROM standing st JOIN usage_counters uc ON uc.project_id = st.project_id
    AND uc.end_user_id = st.end_user_id AND uc.period_start = st.period_start
  WHERE uc.count > 0
)"
        )
    };
}

/// The statements every dashboard runs, in the order of [`Aggregates`]' fields. Lists are
/// aggregated from an ordered subquery, which SQLite feeds to `json_group_array` in order.
pub const AGGREGATES: [Statement; 12] = [
    // projects
    Statement {
        body: " SELECT json_group_array(json_object('id', id, 'name', name, 'type', type, 'mode', mode)) AS j
FROM (SELECT id, name, type, mode FROM projects WHERE id IN (SELECT id FROM scope) ORDER BY created_at, id)",
        arity: 2,
    },
    // customers: end users not deleted, and those created inside the window
    Statement {
        body: " SELECT json_object('total', COUNT(*), 'newLast30Days', COALESCE(SUM(created_at >= ?4), 0)) AS j
FROM end_users WHERE project_id IN (SELECT id FROM scope) AND deleted_at IS NULL",
        arity: 4,
    },
    // subscriptions, grouped for the core's counts and MRR
    Statement {
        body: " SELECT json_group_array(json_object('status', status, 'interval', interval, 'currency', currency,
  'canceling', canceling, 'n', n, 'amount', amount)) AS j
FROM (SELECT status, interval, currency, cancel_at_period_end AS canceling, COUNT(*) AS n, SUM(amount) AS amount
  FROM subscriptions WHERE project_id IN (SELECT id FROM scope) AND status IN ('active', 'trialing', 'past_due')
  GROUP BY status, interval, currency, cancel_at_period_end)",
        arity: 2,
    },
    // tiers with their active or trialing subscribers (archived ones while someone subscribes)
    Statement {
        body: concat!(
            " SELECT json_group_array(json_object('id', id, 'projectId', project_id, 'name', name,
  'displayName', display_name, 'price', price, 'currency', currency, 'interval', interval,
  'limit', ",
            limit!("usage_limit"),
            ", 'popular', ",
            boolean!("popular = 1"),
            ", 'isDefault', ",
            boolean!("is_default = 1"),
            ", 'archived', ",
            boolean!("archived_at IS NOT NULL"),
            concat!(", 'priceId', stripe_price_id, 'productId', stripe_product_id,
  'subscribers', subscribers, 'canceling', canceling)) AS j
FROM (SELECT t.*, COUNT(s.id) AS subscribers, COALESCE(SUM(s.cancel_at_period_end), 0) AS canceling
  FROM tiers t LEFT JOIN subscriptions s ON s.project_id = t.project_id AND s.tier_id = t.id
    AND s.status IN ", giving_access!(), "
  WHERE t.project_id IN (SELECT id FROM scope)
  GROUP BY t.id HAVING t.archived_at IS NULL OR COUNT(s.id) > 0
  ORDER BY t.project_id, t.sort_order, t.price, t.name)")
        ),
        arity: 2,
    },
    // usage in each end user's current period: the total, per tier, and the 10 end users who
    // used the most
    Statement {
        body: concat!(
            current_usage!(),
            " SELECT json_object('total', (SELECT COALESCE(SUM(count), 0) FROM cur),
  'byTier', json((SELECT json_group_array(json_object('tierId', tier_id, 'name', name,
      'endUsers', end_users, 'count', units))
    FROM (SELECT cur.tier_id, t.name, COUNT(*) AS end_users, SUM(cur.count) AS units
      FROM cur LEFT JOIN tiers t ON t.id = cur.tier_id
      GROUP BY cur.tier_id ORDER BY units DESC, cur.tier_id))),
  'topEndUsers', json((SELECT json_group_array(json_object('endUserId', end_user_id,
      'externalId', external_id, 'email', email, 'plan', plan, 'count', count))
    FROM (SELECT cur.end_user_id, cur.external_id, cur.email, t.name AS plan, cur.count
      FROM cur LEFT JOIN tiers t ON t.id = cur.tier_id
      ORDER BY cur.count DESC, cur.end_user_id LIMIT 10)))) AS j"
        ),
        arity: 5,
    },
    // units per UTC day (usage_days, kept by the metered call) and the part of each day
    // counted into the period each end user is in now (usage_period_days): what `total` sums
    Statement {
        body: concat!(
            current_usage!(),
            " SELECT json_group_array(json_object('day', day, 'n', n, 'current', c)) AS j
FROM (SELECT day, SUM(n) AS n, SUM(c) AS c FROM (
    SELECT CAST(day / 86400000 AS INTEGER) AS day, count AS n, 0 AS c FROM usage_days
    WHERE project_id IN (SELECT id FROM scope) AND day >= ?4
  UNION ALL
    SELECT CAST(d.day / 86400000 AS INTEGER), 0, d.count FROM cur JOIN usage_period_days d
      ON d.project_id = cur.project_id AND d.end_user_id = cur.end_user_id AND d.period_start = cur.period_start
    WHERE d.day >= ?4)
  GROUP BY 1)"
        ),
        arity: 5,
    },
    // end users created per UTC day
    Statement {
        body: " SELECT json_group_array(json_object('day', day, 'n', n)) AS j
FROM (SELECT CAST(created_at / 86400000 AS INTEGER) AS day, COUNT(*) AS n FROM end_users
  WHERE project_id IN (SELECT id FROM scope) AND deleted_at IS NULL AND created_at >= ?4 GROUP BY 1)",
        arity: 4,
    },
    // paid orders per currency, net of partial refunds (refunded and disputed orders bring
    // nothing: their money went back or is withheld)
    Statement {
        body: " SELECT json_group_array(json_object('currency', currency, 'n', n, 'amount', amount)) AS j
FROM (SELECT currency, COUNT(*) AS n, SUM(amount_total - amount_refunded) AS amount FROM orders
  WHERE project_id IN (SELECT id FROM scope) AND status = 'paid' GROUP BY currency)",
        arity: 2,
    },
    // money per UTC day (of payment) and currency: paid orders net as above, and paid
    // subscription invoices net of their charges' refunds (a day's subscription money never
    // goes below zero: a refund of a payment recorded before migration 0019 nets nothing)
    Statement {
        body: " SELECT json_group_array(json_object('day', day, 'currency', currency, 'n', n,
  'store', store, 'subscriptions', subscriptions)) AS j
FROM (SELECT day, currency, SUM(n) AS n, SUM(store) AS store, MAX(0, SUM(sub)) AS subscriptions FROM (
    SELECT CAST(paid_at / 86400000 AS INTEGER) AS day, currency, 1 AS n, amount_total - amount_refunded AS store, 0 AS sub
    FROM orders WHERE project_id IN (SELECT id FROM scope) AND status = 'paid' AND paid_at >= ?4
  UNION ALL
    SELECT CAST(paid_at / 86400000 AS INTEGER), currency, 0, 0, iif(kind = 'refund', -amount, amount)
    FROM subscription_payments WHERE project_id IN (SELECT id FROM scope) AND paid_at >= ?4)
  GROUP BY 1, 2)",
        arity: 4,
    },
    // stock of products on sale (low: 1–5 units left), the first 50 sold-out ones by name
    // (their count is exact), units sold: committed reservations, archived products' too,
    // and the orders paid after their hold lapsed with the stock gone, for the developer
    Statement {
        body: " SELECT json_object('products', COUNT(*), 'unlimitedProducts', COALESCE(SUM(inventory IS NULL), 0),
  'inventory', COALESCE(SUM(inventory), 0), 'soldOut', COALESCE(SUM(inventory = 0), 0),
  'lowStock', COALESCE(SUM(inventory BETWEEN 1 AND 5), 0),
  'unitsSold', (SELECT COALESCE(SUM(r.quantity), 0) FROM orders o
    JOIN inventory_reservations r ON r.order_id = o.id
    WHERE o.project_id IN (SELECT id FROM scope) AND r.status = 'committed'),
  'needsAttention', (SELECT COUNT(*) FROM orders WHERE project_id IN (SELECT id FROM scope) AND status = 'needs_attention'),
  'soldOutItems', json((SELECT json_group_array(json_object('id', id, 'projectId', project_id,
      'name', name, 'displayName', display_name))
    FROM (SELECT id, project_id, name, display_name FROM products
      WHERE project_id IN (SELECT id FROM scope) AND archived_at IS NULL AND inventory = 0
      ORDER BY name, id LIMIT 50)))) AS j
FROM products WHERE project_id IN (SELECT id FROM scope) AND archived_at IS NULL",
        arity: 2,
    },
    // the 10 newest Stripe events, ours and dream-api's shape: never the payload
    Statement {
        body: concat!(
            " SELECT json_object('lastEventAt', MAX(received_at),
  'recent', json_group_array(json_object('id', id, 'type', type, 'outcome', outcome,
    'livemode', ",
            boolean!("livemode = 1"),
            ", 'created', created, 'receivedAt', received_at)),
  'dreamApi', json_group_array(json_object('id', id, 'type', type, 'outcome', outcome,
    'createdAt', received_at))) AS j
FROM (SELECT id, type, outcome, livemode, created, received_at FROM stripe_events
  WHERE project_id IN (SELECT id FROM scope) ORDER BY received_at DESC, id DESC LIMIT 10)"
        ),
        arity: 2,
    },
    // event outcomes inside the window
    Statement {
        body: " SELECT json_object('applied', COALESCE(SUM(outcome = 'applied'), 0),
  'stale', COALESCE(SUM(outcome = 'stale'), 0), 'unrelated', COALESCE(SUM(outcome = 'unrelated'), 0),
  'unhandled', COALESCE(SUM(outcome = 'unhandled'), 0)) AS j
FROM stripe_events WHERE project_id IN (SELECT id FROM scope) AND received_at >= ?4",
        arity: 4,
    },
];

/// What dream-api's shape adds for `GET /api/dashboard`, in the order of [`Extras`]' fields.
pub const DREAM_API_EXTRAS: [Statement; 3] = [
    // customers: the 20 newest, each with its standing, usage and newest subscription
    Statement {
        body: concat!(
            ", who AS (
  SELECT id, project_id, plan, email, external_id FROM end_users
  WHERE project_id IN (SELECT id FROM scope) AND deleted_at IS NULL
  ORDER BY created_at DESC, id DESC LIMIT 20
)",
            standing!(),
            " SELECT json_group_array(json_object('userId', id, 'id', id, 'externalId', external_id,
  'email', email, 'plan', plan, 'status', COALESCE(status, 'none'), 'usageCount', usage_count,
  'limit', CASE WHEN plan IS NULL THEN NULL ELSE ",
            limit!("usage_limit"),
            " END,
  'periodStart', ",
            rfc3339!("period_start"),
            ", 'periodEnd', ",
            rfc3339!("period_end"),
            ",
  'currentPeriodEnd', ",
            rfc3339!("current_period_end"),
            ", 'canceledAt', ",
            rfc3339!("canceled_at"),
            concat!(",
  'subscriptionId', stripe_subscription_id, 'stripeCustomerId', stripe_customer_id,
  'priceId', stripe_price_id, 'productId', stripe_product_id, 'amount', amount, 'currency', currency,
  'publishableKey', publishable_key, 'createdAt', created_at)) AS j
FROM (SELECT e.id, e.external_id, e.email, e.created_at, p.publishable_key,
    COALESCE(e.stripe_customer_id, s.stripe_customer_id) AS stripe_customer_id,
    t.name AS plan, t.usage_limit, t.stripe_product_id,
    COALESCE(uc.count, 0) AS usage_count, uc.period_start, uc.period_end,
    s.status, s.stripe_subscription_id, s.stripe_price_id, s.amount, s.currency,
    s.current_period_end, s.canceled_at
  FROM standing st
  JOIN end_users e ON e.id = st.end_user_id
  JOIN projects p ON p.id = st.project_id
  LEFT JOIN tiers t ON t.id = st.tier_id
  LEFT JOIN usage_counters uc ON uc.project_id = st.project_id AND uc.end_user_id = st.end_user_id
    AND uc.period_start = st.period_start
  LEFT JOIN subscriptions s ON s.id = (
    SELECT id FROM subscriptions WHERE project_id = st.project_id AND end_user_id = st.end_user_id
    ORDER BY status IN ", giving_access!(), " DESC, current_period_end DESC LIMIT 1)
  ORDER BY e.created_at DESC, e.id DESC)")
        ),
        arity: 5,
    },
    // keys: the project's secret keys by their display parts (never a hash or a key), and the
    // connected Stripe account of its platform and mode
    Statement {
        body: " SELECT json_object('publishableKey', p.publishable_key,
  'secretKeyMasked', (SELECT prefix || '…' || last4 FROM api_keys WHERE project_id = p.id AND status = 'active'),
  'platformId', p.platform_id,
  'apiKeys', json_group_array(json_object('id', k.id, 'publishableKey', p.publishable_key,
    'display', k.prefix || '…' || k.last4, 'status', k.status, 'createdAt', k.created_at,
    'expiresAt', k.expires_at, 'label', NULL, 'projectId', p.id, 'projectType', p.type))
    FILTER (WHERE k.id IS NOT NULL),
  'stripeAccountId', (SELECT account_id FROM stripe_connections
    WHERE platform_id = p.platform_id AND mode = p.mode AND status = 'connected')) AS j
FROM projects p LEFT JOIN (SELECT * FROM api_keys WHERE project_id IN (SELECT id FROM scope)
  ORDER BY created_at DESC, id DESC LIMIT 20) k ON k.project_id = p.id
WHERE p.id IN (SELECT id FROM scope) GROUP BY p.id",
        arity: 2,
    },
    // the catalog in dream-api's tier shape: tiers of a SaaS project, products of a store
    Statement {
        body: concat!(
            " SELECT json_group_array(json(x)) AS j FROM (
  SELECT json_object('id', id, 'name', name, 'displayName', display_name, 'price', price,
    'currency', currency, 'limit', ",
            limit!("usage_limit"),
            ", 'billingMode', 'subscription',
    'priceId', stripe_price_id, 'productId', stripe_product_id, 'popular', ",
            boolean!("popular = 1"),
            ",
    'inventory', NULL, 'soldOut', json('false')) AS x, 0 AS kind, sort_order, price, name
  FROM tiers WHERE project_id IN (SELECT id FROM scope) AND archived_at IS NULL
  UNION ALL
  SELECT json_object('id', id, 'name', name, 'displayName', display_name, 'price', price,
    'currency', currency, 'limit', 'unlimited', 'billingMode', 'one_off',
    'priceId', stripe_price_id, 'productId', stripe_product_id, 'popular', json('false'),
    'inventory', inventory, 'soldOut', ",
            boolean!("inventory = 0"),
            "), 1, sort_order, price, name
  FROM products WHERE project_id IN (SELECT id FROM scope) AND archived_at IS NULL
  ORDER BY 2, 3, 4, 5 LIMIT 100)"
        ),
        arity: 2,
    },
];

fn prepare(
    db: &D1Database,
    scope: Scope<'_>,
    now: i64,
    statements: &[Statement],
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let [first, second] = scope.params();
    let params = [
        first,
        second,
        int(Period::calendar_month(now).start),
        int(Window::ending_at(now).since_ms()),
        int(now),
    ];
    statements
        .iter()
        .map(|s| {
            let sql = format!("WITH scope(id) AS ({}){}", scope.sql(), s.body);
            Ok(db.prepare(&sql).bind(&params[..s.arity])?)
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct Document {
    j: Option<String>,
}

/// The JSON documents of a batch, in statement order (null for a missing one).
fn documents(results: &[D1Result]) -> Result<std::vec::IntoIter<Value>, ApiError> {
    let mut documents = Vec::with_capacity(results.len());
    for result in results {
        let text = result.results::<Document>()?.pop().and_then(|d| d.j);
        documents.push(match text {
            Some(j) => serde_json::from_str(&j)?,
            None => Value::Null,
        });
    }
    Ok(documents.into_iter())
}

fn aggregates_from(documents: &mut impl Iterator<Item = Value>) -> Aggregates {
    let mut next = || documents.next().unwrap_or_default();
    Aggregates {
        projects: next(),
        customers: next(),
        subscriptions: next(),
        tiers: next(),
        usage: next(),
        usage_days: next(),
        customer_days: next(),
        revenue: next(),
        revenue_days: next(),
        stock: next(),
        events: next(),
        outcomes: next(),
    }
}

/// The aggregates of `scope` as of `now`: [`AGGREGATES`] in one batch.
///
/// # Errors
/// Storage failures.
pub async fn aggregates(
    db: &D1Database,
    scope: Scope<'_>,
    now: i64,
) -> Result<Aggregates, ApiError> {
    let results = db.batch(prepare(db, scope, now, &AGGREGATES)?).await?;
    Ok(aggregates_from(&mut documents(&results)?))
}

/// The aggregates and dream-api's extras: [`AGGREGATES`] and [`DREAM_API_EXTRAS`] in one
/// batch.
///
/// # Errors
/// Storage failures.
pub async fn with_dream_api_extras(
    db: &D1Database,
    scope: Scope<'_>,
    now: i64,
) -> Result<(Aggregates, Extras), ApiError> {
    let mut statements = prepare(db, scope, now, &AGGREGATES)?;
    statements.extend(prepare(db, scope, now, &DREAM_API_EXTRAS)?);
    let results = db.batch(statements).await?;
    let mut documents = documents(&results)?;
    let aggregates = aggregates_from(&mut documents);
    let mut next = || documents.next().unwrap_or_default();
    let extras = Extras {
        customers: next(),
        keys: next(),
        catalog: next(),
    };
    Ok((aggregates, extras))
}
