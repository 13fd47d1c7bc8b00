//! The `Meter` Durable Object: one end user's exact counter. It holds their allowance (read
//! from D1 once per wake-up, and again after `forget`), counts calls by the core's rule
//! (`tollgate::meter`), keeps each call's `Idempotency-Key` record, and flushes what it
//! counted to D1 (the dashboards' ledger) on an alarm.
//!
//! Every count runs in one synchronous stretch of SQLite statements, so no other call can
//! interleave with it, and the runtime's output gate holds its answer until those writes are
//! durable: an acknowledged count is never lost. D1 is read only to load the allowance (and
//! the ledger's count of a period the object has not counted in yet, so counts made before
//! the objects existed carry over) and written only by the flush.

use std::cell::{Cell, RefCell};
use tollgate::RequestId;
use tollgate::idempotency::RETENTION_MS;
use tollgate::meter::{
    self, ALLOWANCE_MS, Allowance, Answer, Call, DayTally, FLUSH_MS, FLUSH_RETRY_MS, KeyRecord,
    PeriodTally, Refusal, Retry, Standing,
};
use tollgate::outbound::thresholds_crossed;
use tollgate::usage::{Limit, Period};
use tollgate_edge::db::{self, usage};
use tollgate_edge::{ApiError, log, now_ms};
use worker::{
    DurableObject, Env, Method, Request, Response, SqlStorage, SqlStorageValue, State,
    durable_object,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS identity (project_id TEXT NOT NULL, end_user_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS periods (start INTEGER PRIMARY KEY, end_ INTEGER NOT NULL,
  count INTEGER NOT NULL, flushed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS days (period_start INTEGER NOT NULL, day INTEGER NOT NULL,
  units INTEGER NOT NULL, last_at INTEGER NOT NULL, PRIMARY KEY (period_start, day));
CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, record TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stats (id INTEGER PRIMARY KEY CHECK (id = 1), flushes INTEGER NOT NULL);
";

/// One end user's counter, named `{project}:{endUser}` (`tollgate::meter::object_name`).
#[durable_object(alarm)]
#[derive(Debug)]
pub struct Meter {
    state: State,
    env: Env,
    /// The allowance as last read from D1 and when (`None` until the first call, and after
    /// `forget`).
    allowance: RefCell<Option<(i64, Option<Allowance>)>>,
    /// Bumped by `forget`: a load that began before it must not be kept.
    generation: Cell<u64>,
    /// Whether a flush alarm is already set in this wake-up.
    alarm_set: Cell<bool>,
    /// Development only: fail the next flush (the retry test).
    fail_next_flush: Cell<bool>,
    /// A flush is running: another one (the alarm, a development flush) waits its turn, so
    /// no two subtract the same day's units.
    flushing: Cell<bool>,
    /// The flush bound (`METER_FLUSH_MS`), read once per wake-up: variables are fixed for a
    /// deployment, and reading one is a crossing into JavaScript.
    flush_ms: i64,
    /// How long an allowance read decides calls (`METER_ALLOWANCE_MS`), read likewise.
    allowance_ms: i64,
}

fn int(value: i64) -> SqlStorageValue {
    SqlStorageValue::Integer(value)
}

fn units(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

fn text(value: &str) -> SqlStorageValue {
    SqlStorageValue::String(value.to_owned())
}

#[derive(serde::Deserialize)]
struct PeriodRow {
    start: i64,
    end_: i64,
    count: i64,
    flushed: i64,
}

#[derive(serde::Deserialize)]
struct DayRow {
    period_start: i64,
    day: i64,
    units: i64,
    last_at: i64,
}

#[derive(serde::Deserialize)]
struct IdentityRow {
    project_id: String,
    end_user_id: String,
}

#[derive(serde::Deserialize)]
struct KeyRow {
    record: String,
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Meter {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn period_row(&self, start: i64) -> worker::Result<Option<PeriodRow>> {
        Ok(self
            .sql()
            .exec(
                "SELECT start, end_, count, flushed FROM periods WHERE start = ?",
                vec![int(start)],
            )?
            .to_array::<PeriodRow>()?
            .into_iter()
            .next())
    }

    /// The allowance, read from D1 unless this wake-up holds one read within the bound
    /// (`ALLOWANCE_MS`); the first read also records who the object counts for (the alarm
    /// needs it).
    async fn allowance(
        &self,
        project_id: &str,
        end_user_id: &str,
        now: i64,
    ) -> worker::Result<Option<Allowance>> {
        if let Some((read_at, held)) = self.allowance.borrow().clone()
            && meter::allowance_current(read_at, now, self.allowance_ms)
        {
            return Ok(held);
        }
        let generation = self.generation.get();
        let env = self.env.clone();
        let (project, end_user) = (project_id.to_owned(), end_user_id.to_owned());
        // Calls arriving meanwhile wait instead of each reading D1 (a cold burst of 400 calls
        // is one read, not 400).
        let loaded = self
            .state
            .block_concurrency_while(async move {
                let database = db::database(&env).map_err(to_worker)?;
                usage::allowance(&database, &project, &end_user)
                    .await
                    .map_err(to_worker)
            })
            .await?;
        if self
            .sql()
            .exec("SELECT 1 FROM identity", None)?
            .to_array::<serde_json::Value>()?
            .is_empty()
        {
            self.sql().exec(
                "INSERT INTO identity (project_id, end_user_id) VALUES (?, ?)",
                vec![text(project_id), text(end_user_id)],
            )?;
        }
        // A `forget` that arrived while D1 answered wins: the next call reads again.
        if self.generation.get() == generation {
            *self.allowance.borrow_mut() = Some((now, loaded.clone()));
        }
        Ok(loaded)
    }

    /// Makes sure the object holds a row for `period`: a period it never counted in starts
    /// from the ledger's count (made before the objects existed, or by an earlier object
    /// state), never from zero by accident.
    async fn open_period(
        &self,
        project_id: &str,
        end_user_id: &str,
        period: Period,
    ) -> worker::Result<()> {
        if self.period_row(period.start)?.is_some() {
            return Ok(());
        }
        let database = db::database(&self.env).map_err(to_worker)?;
        let seeded = usage::count(&database, project_id, end_user_id, period.start)
            .await
            .map_err(to_worker)?;
        self.sql().exec(
            "INSERT OR IGNORE INTO periods (start, end_, count, flushed) VALUES (?, ?, ?, ?)",
            vec![
                int(period.start),
                int(period.end),
                units(seeded),
                units(seeded),
            ],
        )?;
        Ok(())
    }

    async fn track(&self, call: Call) -> worker::Result<Answer> {
        let now = call.now;
        let allowance = self
            .allowance(&call.project_id, &call.end_user_id, now)
            .await?;
        let (plan, limit, period) = match meter::judge(allowance.as_ref(), call.token_version, now)
        {
            Ok(judged) => judged,
            Err(refusal) => return Ok(Answer::Refused { refusal }),
        };
        self.open_period(&call.project_id, &call.end_user_id, period)
            .await?;
        // From here to the answer: no await, so the check, the count and the key's record are
        // one indivisible step.
        let sql = self.sql();
        if call.read {
            let count = self
                .period_row(period.start)?
                .map_or(0, |row| to_u64(row.count));
            return Ok(Answer::Counted {
                standing: Standing {
                    count,
                    plan,
                    limit,
                    period_start: period.start,
                    period_end: period.end,
                },
                crossed: Vec::new(),
                replayed: false,
            });
        }
        if let Some(key) = &call.key {
            let kept: Option<KeyRecord> = sql
                .exec(
                    "SELECT record FROM keys WHERE key = ?",
                    vec![text(&key.key)],
                )?
                .to_array::<KeyRow>()?
                .into_iter()
                .next()
                .and_then(|row| serde_json::from_str(&row.record).ok());
            match meter::retry(kept.as_ref(), key, now) {
                Retry::Replay(standing) => {
                    return Ok(Answer::Counted {
                        standing: standing.clone(),
                        crossed: Vec::new(),
                        replayed: true,
                    });
                }
                Retry::Reused => {
                    return Ok(Answer::Refused {
                        refusal: Refusal::KeyReused,
                    });
                }
                Retry::Fresh => {}
            }
        }
        let current = self
            .period_row(period.start)?
            .map_or(0, |row| to_u64(row.count));
        let standing = |count| Standing {
            count,
            plan: plan.clone(),
            limit,
            period_start: period.start,
            period_end: period.end,
        };
        let after = match meter::count(current, call.cost, Limit::from_column(limit)) {
            Ok(after) => after,
            Err(count) => {
                return Ok(Answer::Refused {
                    refusal: Refusal::LimitReached {
                        standing: standing(count),
                    },
                });
            }
        };
        if call.cost > 0 {
            sql.exec(
                "UPDATE periods SET count = count + ? WHERE start = ?",
                vec![units(call.cost), int(period.start)],
            )?;
            let day = tollgate::dashboard::day_of(now) * tollgate::dashboard::DAY_MS;
            sql.exec(
                "INSERT INTO days (period_start, day, units, last_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (period_start, day) DO UPDATE SET units = units + excluded.units, last_at = excluded.last_at",
                vec![int(period.start), int(day), units(call.cost), int(now)],
            )?;
        }
        let answer = standing(after);
        if let Some(key) = &call.key {
            let record = KeyRecord {
                print: key.print.clone(),
                standing: answer.clone(),
                expires_at: now + RETENTION_MS,
            };
            sql.exec(
                "INSERT OR REPLACE INTO keys (key, record, expires_at) VALUES (?, ?, ?)",
                vec![
                    text(&key.key),
                    text(&serde_json::to_string(&record)?),
                    int(record.expires_at),
                ],
            )?;
        }
        if call.cost > 0 {
            self.schedule_flush().await?;
        }
        Ok(Answer::Counted {
            crossed: thresholds_crossed(current, after, Limit::from_column(limit)),
            standing: answer,
            replayed: false,
        })
    }

    async fn schedule_flush(&self) -> worker::Result<()> {
        if !self.alarm_set.get() {
            self.alarm_set.set(true);
            if self.state.storage().get_alarm().await?.is_none() {
                self.state.storage().set_alarm(self.flush_ms).await?;
            }
        }
        Ok(())
    }

    /// Writes what the ledger lacks to D1 (`tollgate::meter::flush_rows`), then marks it
    /// flushed. Calls counted while D1 answered stay pending for the next flush. Gives the
    /// number of counter rows written.
    async fn flush(&self) -> worker::Result<usize> {
        if self.flushing.replace(true) {
            return Ok(0);
        }
        let flushed = self.flush_once().await;
        self.flushing.set(false);
        flushed
    }

    async fn flush_once(&self) -> worker::Result<usize> {
        let sql = self.sql();
        let Some(who) = sql
            .exec("SELECT project_id, end_user_id FROM identity", None)?
            .to_array::<IdentityRow>()?
            .into_iter()
            .next()
        else {
            return Ok(0);
        };
        let periods: Vec<PeriodTally> = sql
            .exec(
                "SELECT start, end_, count, flushed FROM periods WHERE count > flushed",
                None,
            )?
            .to_array::<PeriodRow>()?
            .into_iter()
            .map(|row| PeriodTally {
                start: row.start,
                end: row.end_,
                count: to_u64(row.count),
                flushed: to_u64(row.flushed),
            })
            .collect();
        let days: Vec<DayTally> = sql
            .exec("SELECT period_start, day, units, last_at FROM days", None)?
            .to_array::<DayRow>()?
            .into_iter()
            .map(|row| DayTally {
                period_start: row.period_start,
                day: row.day,
                units: to_u64(row.units),
                last_at: row.last_at,
            })
            .collect();
        let rows = meter::flush_rows(&periods, &days);
        if !rows.is_empty() {
            if self.fail_next_flush.replace(false) {
                return Err(worker::Error::RustError("injected flush failure".into()));
            }
            let database = db::database(&self.env).map_err(to_worker)?;
            let statements = usage::flush(&database, &who.project_id, &who.end_user_id, &rows)
                .map_err(to_worker)?;
            database.batch(statements).await?;
            // Kept across evictions: the bench's D1-writes-per-call figure reads it.
            sql.exec(
                "INSERT INTO stats (id, flushes) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET flushes = flushes + 1",
                None,
            )?;
            // Only what this flush read is marked: units counted since stay pending.
            for period in &periods {
                sql.exec(
                    "UPDATE periods SET flushed = MAX(flushed, ?) WHERE start = ?",
                    vec![units(period.count), int(period.start)],
                )?;
            }
            for day in days
                .iter()
                .filter(|d| periods.iter().any(|p| p.start == d.period_start))
            {
                sql.exec(
                    "UPDATE days SET units = units - ? WHERE period_start = ? AND day = ?",
                    vec![units(day.units), int(day.period_start), int(day.day)],
                )?;
            }
            sql.exec("DELETE FROM days WHERE units <= 0", None)?;
        }
        let now = now_ms();
        sql.exec("DELETE FROM keys WHERE expires_at <= ?", vec![int(now)])?;
        // Periods long over and fully in the ledger are not needed again.
        sql.exec(
            "DELETE FROM periods WHERE end_ < ? AND count = flushed",
            vec![int(now - 86_400_000)],
        )?;
        Ok(rows.len())
    }

    /// D1 batches the object has written, ever.
    fn flushes(&self) -> worker::Result<i64> {
        #[derive(serde::Deserialize)]
        struct Row {
            flushes: i64,
        }
        Ok(self
            .sql()
            .exec("SELECT flushes FROM stats", None)?
            .to_array::<Row>()?
            .first()
            .map_or(0, |row| row.flushes))
    }

    fn pending(&self) -> worker::Result<bool> {
        Ok(!self
            .sql()
            .exec("SELECT 1 FROM periods WHERE count > flushed LIMIT 1", None)?
            .to_array::<serde_json::Value>()?
            .is_empty())
    }
}

#[expect(clippy::needless_pass_by_value, reason = "passed to map_err by name")]
fn to_worker(error: ApiError) -> worker::Error {
    worker::Error::RustError(error.for_log())
}

/// A positive number of ms from the variable `name`, else `default`.
fn bound(env: &Env, name: &str, default: i64) -> i64 {
    env.var(name)
        .ok()
        .and_then(|v| v.to_string().parse().ok())
        .filter(|ms: &i64| *ms > 0)
        .unwrap_or(default)
}

fn json_answer<T: serde::Serialize>(value: &T) -> worker::Result<Response> {
    Response::from_json(value)
}

impl DurableObject for Meter {
    fn new(state: State, env: Env) -> Self {
        // The schema is made once per object; `IF NOT EXISTS` keeps a wake-up cheap.
        if let Err(error) = state.storage().sql().exec(SCHEMA, None) {
            log::error(
                &RequestId::generate(),
                "meter_schema_failed",
                &error.to_string(),
            );
        }
        let flush_ms = bound(&env, "METER_FLUSH_MS", FLUSH_MS);
        let allowance_ms = bound(&env, "METER_ALLOWANCE_MS", ALLOWANCE_MS);
        Self {
            state,
            env,
            flush_ms,
            allowance_ms,
            allowance: RefCell::new(None),
            generation: Cell::new(0),
            alarm_set: Cell::new(false),
            fail_next_flush: Cell::new(false),
            flushing: Cell::new(false),
        }
    }

    /// `POST /track` (a [`Call`], which may be a read), `POST /forget` (the records
    /// changed: read the allowance again before the next count); in development also
    /// `POST /flush` and `POST /fail-next-flush`. Only Tollgate's own workers reach it.
    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if req.method() != Method::Post {
            return Ok(Response::empty()?.with_status(405));
        }
        match req.path().as_str() {
            "/track" => json_answer(&self.track(req.json().await?).await?),
            "/forget" => {
                self.generation.set(self.generation.get() + 1);
                *self.allowance.borrow_mut() = None;
                Ok(Response::empty()?.with_status(204))
            }
            "/flush" => {
                let rows = self.flush().await?;
                json_answer(&serde_json::json!({
                    "rows": rows,
                    "pending": self.pending()?,
                    "flushes": self.flushes()?,
                }))
            }
            "/fail-next-flush" => {
                self.fail_next_flush.set(true);
                Ok(Response::empty()?.with_status(204))
            }
            _ => Ok(Response::empty()?.with_status(404)),
        }
    }

    /// The flush: a failed one is tried again after [`FLUSH_RETRY_MS`]; units counted while it
    /// ran get their own alarm.
    async fn alarm(&self) -> worker::Result<Response> {
        self.alarm_set.set(false);
        let next = match self.flush().await {
            Ok(_) => self.pending()?.then_some(self.flush_ms),
            Err(error) => {
                log::error(
                    &RequestId::generate(),
                    "meter_flush_failed",
                    &error.to_string(),
                );
                Some(FLUSH_RETRY_MS)
            }
        };
        if let Some(delay) = next {
            self.alarm_set.set(true);
            self.state.storage().set_alarm(delay).await?;
        }
        Response::empty()
    }
}
