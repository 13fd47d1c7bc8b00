//! The operator's admin lane: business metrics, the developer directory and the entitlement
//! drift audit and repair. Every route starts with [`Operator::start`]: no token answers
//! 401, a developer who is not on `OPERATOR_SUBJECTS` 403, and the repair (a write) needs a
//! fresh sign-in.

use serde_json::{Value, json};
use tollgate::Detail;
use tollgate::Mode;
use tollgate::dashboard::subscription_stats;
use tollgate::drift::{
    self, Discrepancy, Local, PAGE_LIMIT, Provider, RepairInput, Request, Target,
};
use tollgate::stripe::ProviderErrorKind;
use tollgate::stripe::calls::retrieve_subscription;
use tollgate::stripe::events::SubscriptionTerms;
use tollgate_edge::audit::{self, Actor, Change};
use tollgate_edge::db::admin::{self, DriftRow, DriftScope};
use tollgate_edge::db::billing::{self, Grant};
use tollgate_edge::db::{self};
use tollgate_edge::list;
use tollgate_edge::session::Operator;
use tollgate_edge::stripe::StripeClient;
use tollgate_edge::{ApiError, Ctx, body, json, meter};
use worker::{D1PreparedStatement, Response};

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Outbound deliveries and Stripe events are counted over this many days.
const WINDOW_DAYS: i64 = 30;

fn var_or(ctx: &Ctx, name: &str, default: &str) -> String {
    ctx.env
        .var(name)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| default.to_owned())
}

fn uint(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or(0)
}

/// `GET /v1/admin/metrics`.
pub(crate) async fn metrics(ctx: Ctx) -> Result<Response, ApiError> {
    let operator = Operator::start(&ctx, false).await?;
    let m = admin::metrics(&operator.db, ctx.now_ms - WINDOW_DAYS * DAY_MS).await?;
    // The operator's plan bills every developer the configured amount monthly; trials
    // bring no revenue yet (the dashboard's MRR rule).
    let plan_amount: i64 = var_or(&ctx, "TOLLGATE_PLAN_AMOUNT", "2900")
        .parse()
        .map_err(|_| ApiError::internal("TOLLGATE_PLAN_AMOUNT is not a whole number"))?;
    let plan_currency = var_or(&ctx, "TOLLGATE_PLAN_CURRENCY", "usd");
    let active = m.developers["active"].as_i64().unwrap_or(0);
    let plan_mrr = if active > 0 {
        vec![json!({ "currency": plan_currency, "amount": active * plan_amount })]
    } else {
        Vec::new()
    };
    let (subscriptions, projects_mrr) = subscription_stats(&m.subscriptions);
    let delivered = uint(&m.deliveries, "delivered");
    let failed = uint(&m.deliveries, "failed");
    let settled = delivered + failed;
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let failure_rate = (settled > 0).then(|| failed as f64 / settled as f64);
    let end_users = m.end_users.as_array().cloned().unwrap_or_default();
    let end_user_total: u64 = end_users.iter().map(|e| uint(e, "count")).sum();
    json(
        200,
        &Detail {
            data: json!({
                "developers": {
                    "total": uint(&m.developers, "total"),
                    "paying": uint(&m.developers, "paying"),
                },
                "projects": m.projects,
                "endUsers": { "total": end_user_total, "byMode": end_users },
                "planMrr": plan_mrr,
                "projectsMrr": projects_mrr.iter()
                    .map(|x| json!({ "currency": x.currency, "amount": x.amount }))
                    .collect::<Vec<_>>(),
                "liveSubscriptions": {
                    "active": subscriptions.active,
                    "trialing": subscriptions.trialing,
                    "canceling": subscriptions.canceling,
                    "pastDue": subscriptions.past_due,
                },
                "webhookDeliveries": {
                    "windowDays": WINDOW_DAYS,
                    "delivered": delivered,
                    "failed": failed,
                    "pending": uint(&m.deliveries, "pending"),
                    "failureRate": failure_rate,
                },
                "stripeEvents": { "windowDays": WINDOW_DAYS, "byOutcome": m.stripe_events },
            }),
        },
    )
}

/// `GET /v1/admin/developers?q=&page=&pageSize=`: newest first; `q` matches the start of
/// the platform id, the identity subject or the email.
pub(crate) async fn developers(ctx: Ctx) -> Result<Response, ApiError> {
    let operator = Operator::start(&ctx, false).await?;
    let page = list::page(&ctx)?;
    let q = ctx
        .query()
        .into_iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    if q.chars().count() > 200 {
        return Err(ApiError::field("q", "must be at most 200 characters"));
    }
    let (rows, total) = admin::developers(&operator.db, &q, page).await?;
    list::respond(rows, total, page, |r| {
        json!({
            "id": r.id,
            "issuer": r.issuer,
            "subject": r.subject,
            "email": r.email,
            "billingStatus": r.billing_status,
            "currentPeriodEnd": r.current_period_end,
            "projects": { "live": r.live_projects, "test": r.test_projects },
            "createdAt": r.created_at,
        })
    })
}

fn scope(request: &Request) -> DriftScope<'_> {
    match &request.target {
        Target::Platform(id) => DriftScope::Platform(id),
        Target::Project(id) => DriftScope::Project(id),
    }
}

/// One drifted subscription, with the provider's state when it has one.
struct Drifted {
    row: DriftRow,
    found: Vec<Discrepancy>,
    terms: Option<SubscriptionTerms>,
}

struct Audit {
    total: u64,
    drifted: Vec<Drifted>,
    unchecked: Vec<(String, &'static str)>,
    checked: usize,
}

impl Audit {
    fn confirmation(&self) -> String {
        let plan: Vec<(&str, &[Discrepancy])> = self
            .drifted
            .iter()
            .map(|d| (d.row.stripe_subscription_id.as_str(), d.found.as_slice()))
            .collect();
        drift::confirmation(&plan)
    }
}

fn unchecked_reason(kind: &ProviderErrorKind) -> &'static str {
    match kind {
        ProviderErrorKind::AccountUnavailable => "the connected account no longer grants access",
        ProviderErrorKind::Unavailable => "Stripe did not answer",
        ProviderErrorKind::Unexpected => "Stripe's answer could not be read",
        _ => "Stripe refused the request",
    }
}

/// Compares one page of the scope's non-final subscriptions with the provider (one
/// retrieve per subscription on its connected account, at most [`PAGE_LIMIT`]).
async fn audit(ctx: &Ctx, operator: &Operator, request: &Request) -> Result<Audit, ApiError> {
    let scope = scope(request);
    if !admin::scope_exists(&operator.db, scope).await? {
        return Err(ApiError::NotFound);
    }
    let limit = PAGE_LIMIT as i64;
    let offset = i64::from(request.page - 1) * limit;
    let (rows, total) = admin::drift_rows(&operator.db, scope, limit, offset).await?;
    let checked = rows.len();
    let mut clients: Vec<StripeClient> = Vec::new();
    let mut result = Audit {
        total,
        drifted: Vec::new(),
        unchecked: Vec::new(),
        checked,
    };
    for row in rows {
        let Some(account) = row.account_id.clone() else {
            result.unchecked.push((
                row.stripe_subscription_id,
                "no connected Stripe account in the project's mode",
            ));
            continue;
        };
        let mode = Mode::parse(&row.mode).unwrap_or(Mode::Test);
        let client = match clients.iter().find(|c| c.mode == mode) {
            Some(c) => c.clone(),
            None => {
                let made = StripeClient::from_env(&ctx.env, mode)?;
                clients.push(made.clone());
                made
            }
        };
        let answer = client
            .send(&retrieve_subscription(
                Some(&account),
                &row.stripe_subscription_id,
            ))
            .await;
        let terms = match answer {
            Ok(subscription) => match SubscriptionTerms::read(&subscription, false) {
                Ok(terms) => Some(terms),
                Err(_) => {
                    result.unchecked.push((
                        row.stripe_subscription_id,
                        "Stripe's subscription has terms Tollgate cannot store",
                    ));
                    continue;
                }
            },
            Err(ApiError::Provider(e)) if e.kind == ProviderErrorKind::Missing => None,
            Err(ApiError::Provider(e)) => {
                result
                    .unchecked
                    .push((row.stripe_subscription_id, unchecked_reason(&e.kind)));
                continue;
            }
            Err(other) => return Err(other),
        };
        let local = Local {
            stripe_subscription_id: row.stripe_subscription_id.clone(),
            status: row.status,
            stripe_price_id: row.stripe_price_id.clone(),
            period_end: row.current_period_end,
            cancel_at_period_end: row.cancel_at_period_end,
        };
        let provider = terms.as_ref().map_or(Provider::Missing, Provider::Found);
        let found = drift::compare(&local, provider);
        if !found.is_empty() {
            result.drifted.push(Drifted { row, found, terms });
        }
    }
    Ok(result)
}

fn drifted_json(d: &Drifted) -> Value {
    let repair = match &d.terms {
        Some(t) => json!({
            "status": t.status,
            "stripePriceId": t.stripe_price_id,
            "currentPeriodEnd": t.period_end,
            "cancelAtPeriodEnd": t.cancel_at_period_end,
        }),
        None => json!({ "status": "canceled" }),
    };
    json!({
        "id": d.row.id,
        "subscriptionId": d.row.stripe_subscription_id,
        "platformId": d.row.platform_id,
        "projectId": d.row.project_id,
        "endUserId": d.row.end_user_id,
        "discrepancies": d.found,
        "repair": repair,
    })
}

fn audit_json(request: &Request, audit: &Audit) -> Value {
    let pages = audit.total.div_ceil(PAGE_LIMIT as u64);
    let (platform_id, project_id) = match &request.target {
        Target::Platform(id) => (Some(id), None),
        Target::Project(id) => (None, Some(id)),
    };
    json!({
        "platformId": platform_id,
        "projectId": project_id,
        "page": request.page,
        "pageSize": PAGE_LIMIT,
        "total": audit.total,
        "hasMore": u64::from(request.page) < pages,
        "checked": audit.checked,
        "drifted": audit.drifted.iter().map(drifted_json).collect::<Vec<_>>(),
        "unchecked": audit.unchecked.iter()
            .map(|(id, reason)| json!({ "subscriptionId": id, "reason": reason }))
            .collect::<Vec<_>>(),
        "confirmation": audit.confirmation(),
    })
}

/// `GET /v1/admin/drift?platformId=…|projectId=…&page=`.
pub(crate) async fn drift(ctx: Ctx) -> Result<Response, ApiError> {
    let operator = Operator::start(&ctx, false).await?;
    let query = ctx.query();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let page = match get("page") {
        Some(p) => Some(
            p.parse::<u32>()
                .map_err(|_| ApiError::field("page", "must be a whole number from 1"))?,
        ),
        None => None,
    };
    let request =
        Request::new(get("platformId"), get("projectId"), page).map_err(ApiError::Validation)?;
    let found = audit(&ctx, &operator, &request).await?;
    json(
        200,
        &Detail {
            data: audit_json(&request, &found),
        },
    )
}

/// The statements that make one drifted row what the provider says, as the subscription
/// webhooks would write it: the tier follows the price when a tier sells it, else stays.
async fn repair_statements(
    ctx: &Ctx,
    operator: &Operator,
    d: &Drifted,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let db = &operator.db;
    let row = &d.row;
    let mut statements = Vec::with_capacity(2);
    // Stripe's event times have whole seconds: an event made in the same second as the
    // repair still applies after it (an older one is stale, as the provider state read now
    // already includes it).
    let at = (ctx.now_ms / 1000 * 1000).max(row.stripe_event_at);
    match &d.terms {
        Some(terms) => {
            let by_price = billing::tier_for_terms(db, &row.project_id, terms).await?;
            let (tier_id, plan) = match &by_price {
                Some(t) => (Some(t.id.as_str()), t.name.as_str()),
                None => (row.tier_id.as_deref(), row.plan.as_str()),
            };
            let grant = Grant {
                project_id: &row.project_id,
                end_user_id: &row.end_user_id,
                tier_id,
                plan,
            };
            statements.push(billing::upsert_subscription(
                db, grant, terms, at, ctx.now_ms,
            )?);
        }
        None => statements.push(admin::cancel_missing(db, &row.stripe_subscription_id, at)?),
    }
    statements.push(audit::event(
        ctx,
        db,
        Actor {
            platform_id: &row.platform_id,
            subject: &operator.developer.subject,
        },
        Change {
            project_id: Some(&row.project_id),
            action: "drift.repaired",
            target_type: "subscription",
            target_id: &row.id,
        },
        &json!({
            "stripeSubscriptionId": row.stripe_subscription_id,
            "operatorIssuer": operator.developer.issuer,
            "discrepancies": d.found,
        }),
    )?);
    Ok(statements)
}

/// `POST /v1/admin/drift/repair` `{ platformId|projectId, page?, dryRun, confirmation? }`.
/// A dry run answers the planned changes and their `confirmation`; applying needs that
/// exact value and audits again first, so drift that moved in between answers 409
/// `drift_changed` and changes nothing.
pub(crate) async fn repair(mut ctx: Ctx) -> Result<Response, ApiError> {
    let operator = Operator::start(&ctx, true).await?;
    let input = body::json::<RepairInput>(&mut ctx.req, body::DEFAULT_LIMIT).await?;
    let dry_run = input.dry_run;
    let (request, confirmation) = input.validate().map_err(ApiError::Validation)?;
    let found = audit(&ctx, &operator, &request).await?;
    let mut data = audit_json(&request, &found);
    data["dryRun"] = dry_run.into();
    let Some(confirmation) = confirmation else {
        data["repaired"] = 0.into();
        return json(200, &Detail { data });
    };
    if confirmation != found.confirmation() {
        return Err(ApiError::DriftChanged);
    }
    let mut statements = Vec::new();
    for d in &found.drifted {
        statements.extend(repair_statements(&ctx, &operator, d).await?);
    }
    if !statements.is_empty() {
        db::batch(&operator.db, statements).await?;
    }
    // A repaired subscription is a changed allowance: each end user's object reads it again.
    for d in &found.drifted {
        meter::forget_one(
            &ctx.env,
            &ctx.request_id,
            &d.row.project_id,
            &d.row.end_user_id,
        )
        .await;
    }
    data["repaired"] = found.drifted.len().into();
    json(200, &Detail { data })
}
