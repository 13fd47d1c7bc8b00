//! D1 repositories: the only place SQL lives. Statements that belong to one change are
//! returned unexecuted so the caller runs them, with the audit row, as one atomic batch.

/// The subscription statuses that give access, as a SQL list for the queries that decide by
/// it: the one rule `tollgate::subscription::Status::gives_access` states, spelled where
/// `concat!` can use it (a unit test below holds the two equal).
macro_rules! giving_access {
    () => {
        "('trialing', 'active')"
    };
}

pub mod admin;
pub mod assets;
pub mod audit;
pub mod billing;
pub mod catalog;
pub mod checkout;
pub mod connections;
pub mod customers;
pub mod dashboard;
pub mod deliveries;
pub mod end_users;
pub mod entitlements;
pub mod event_reads;
pub mod idempotency;
pub mod keys;
pub mod operator;
pub mod platforms;
pub mod projects;
pub mod refunds;
pub mod usage;
mod violation;
pub mod webhook_endpoints;

pub use violation::Violation;

use crate::{ApiError, storage};
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

/// The shared database.
///
/// # Errors
/// When the binding is missing.
pub fn database(env: &Env) -> Result<D1Database, ApiError> {
    // A worker deployed without its database cannot reach storage: the same 503 as an outage.
    env.d1(storage::DB)
        .map_err(|err| ApiError::StorageUnavailable {
            cause: format!("binding {}: {err}", storage::DB),
        })
}

/// Another D1 database bound under `binding` (the Stripe sandbox keeps its own).
///
/// # Errors
/// When the binding is missing.
pub fn database_named(env: &Env, binding: &str) -> Result<D1Database, ApiError> {
    Ok(env.d1(binding)?)
}

/// A text parameter.
pub fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

/// An integer parameter (ids, counts and times stay within ±2^53).
#[expect(
    clippy::cast_precision_loss,
    reason = "stored integers stay within ±2^53 by design"
)]
pub fn int(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// Reads a 0/1 column as the flag it is, so nothing past the repository compares integers.
///
/// # Errors
/// When the column is not a number.
pub fn flag<'de, D: serde::Deserializer<'de>>(column: D) -> Result<bool, D::Error> {
    <i64 as serde::Deserialize>::deserialize(column).map(|value| value != 0)
}

/// A nullable text parameter.
pub fn opt_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

/// Prepares and binds a statement.
///
/// # Errors
/// When a parameter cannot be bound.
pub fn stmt(
    db: &D1Database,
    sql: &str,
    params: &[JsValue],
) -> Result<D1PreparedStatement, ApiError> {
    Ok(db.prepare(sql).bind(params)?)
}

/// The first row, if any.
///
/// # Errors
/// Storage failures, or a row that does not deserialize into `T`.
pub async fn first<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    params: &[JsValue],
) -> Result<Option<T>, ApiError> {
    Ok(stmt(db, sql, params)?.first::<T>(None).await?)
}

/// All rows.
///
/// # Errors
/// Storage failures, or a row that does not deserialize into `T`.
pub async fn all<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    params: &[JsValue],
) -> Result<Vec<T>, ApiError> {
    Ok(stmt(db, sql, params)?.all().await?.results::<T>()?)
}

/// Runs statements as one atomic batch and returns how many rows each changed.
pub async fn batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> Result<Vec<usize>, ApiError> {
    let results = db.batch(statements).await?;
    results
        .iter()
        .map(|r| Ok(r.meta()?.and_then(|m| m.changes).unwrap_or(0)))
        .collect()
}

/// Several SELECTs sent as one batch: one round trip to D1 however many there are, and one
/// read transaction, so every answer comes from the same state of the database.
///
/// # Errors
/// Storage failures.
pub async fn read_batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> Result<Vec<D1Result>, ApiError> {
    // D1 refuses an empty batch; nothing asked is nothing to wait for.
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    Ok(db.batch(statements).await?)
}

/// The answers of a [`read_batch`], taken in the order their statements were sent.
#[derive(Debug)]
pub struct Answers<'a> {
    results: std::slice::Iter<'a, D1Result>,
}

impl<'a> Answers<'a> {
    /// The answers of `results`, first statement first.
    #[must_use]
    pub fn new(results: &'a [D1Result]) -> Self {
        Self {
            results: results.iter(),
        }
    }

    /// The next statement's answer, for reading its rows as more than one type.
    ///
    /// # Errors
    /// Fewer answers than statements sent.
    pub fn result(&mut self) -> Result<&'a D1Result, ApiError> {
        self.results
            .next()
            .ok_or_else(|| ApiError::internal("D1 answered fewer statements than were sent"))
    }

    /// Every row of the next statement.
    ///
    /// # Errors
    /// A row that does not deserialize into `T`, or fewer answers than statements sent.
    pub fn all<T: DeserializeOwned>(&mut self) -> Result<Vec<T>, ApiError> {
        Ok(self.result()?.results::<T>()?)
    }

    /// The first row of the next statement, if any.
    ///
    /// # Errors
    /// As [`Answers::all`].
    pub fn first<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ApiError> {
        Ok(self.all::<T>()?.into_iter().next())
    }
}

/// The `n` of a `SELECT COUNT(*) AS n …` (0 when no row answers).
///
/// # Errors
/// Storage failures.
pub async fn count(db: &D1Database, sql: &str, params: &[JsValue]) -> Result<u64, ApiError> {
    Ok(first::<Count>(db, sql, params).await?.map_or(0, |c| c.n))
}

/// One page of a project's rows, read by the database (`sql` binds the project as `?1`, the
/// page size as `?2` and the offset as `?3`), and the total `count_sql` counts (the project
/// as `?1`).
///
/// # Errors
/// Storage failures.
pub async fn page_by_project<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    count_sql: &str,
    project_id: &str,
    page: tollgate::paging::Page,
) -> Result<(Vec<T>, u64), ApiError> {
    let rows = all(
        db,
        sql,
        &[
            text(project_id),
            int(page.page_size.into()),
            int(page.offset().into()),
        ],
    )
    .await?;
    let total = count(db, count_sql, &[text(project_id)]).await?;
    Ok((rows, total))
}

#[derive(serde::Deserialize)]
pub(crate) struct Count {
    pub(crate) n: u64,
}

#[cfg(test)]
mod tests {
    use tollgate::subscription::Status;

    #[test]
    fn the_sql_list_of_statuses_giving_access_is_the_core_rule() {
        let words: Vec<String> = Status::ALL
            .into_iter()
            .filter(|s| s.gives_access())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(giving_access!(), format!("({})", words.join(", ")));
    }
}
