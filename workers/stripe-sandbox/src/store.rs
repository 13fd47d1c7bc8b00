//! The sandbox's own D1 database (`SANDBOX_DB`, never Tollgate's `DB`): Stripe objects as
//! JSON documents keyed by (account, mode, id), and the records Stripe keeps beside them —
//! idempotency keys, OAuth codes, connections, endpoint secrets, deliveries and faults.
//!
//! The SQL of the sandbox lives here, beside the sandbox, rather than in `tollgate-edge`'s
//! repositories: it is the storage of a stand-in for Stripe, not of Tollgate. Writes that
//! belong to one change are returned unexecuted and committed together as one batch.

use crate::http::Fail;
use crate::model::params::ListOptions;
use crate::model::{Filter, keys::PLATFORM_ACCOUNT};
use serde::Deserialize;
use serde_json::Value;
use tollgate_edge::db::{self, int, opt_text, stmt, text};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

/// The binding of the sandbox's database.
const BINDING: &str = "SANDBOX_DB";

/// The account and mode a request acts in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) account: String,
    pub(crate) livemode: bool,
}

impl Scope {
    pub(crate) fn platform(livemode: bool) -> Self {
        Self {
            account: PLATFORM_ACCOUNT.to_owned(),
            livemode,
        }
    }

    /// The connected account, `None` for the platform itself.
    pub(crate) fn connected(&self) -> Option<&str> {
        (self.account != PLATFORM_ACCOUNT).then_some(self.account.as_str())
    }

    fn mode(&self) -> JsValue {
        int(i64::from(self.livemode))
    }
}

#[derive(Deserialize)]
struct BodyRow {
    body: String,
}

#[derive(Deserialize)]
struct ScopedRow {
    account: String,
    livemode: i64,
    body: String,
}

/// An idempotency record someone already holds.
#[derive(Debug, Deserialize)]
pub(crate) struct KeyRecord {
    pub(crate) fingerprint: String,
    pub(crate) request_id: String,
    pub(crate) status: String,
    pub(crate) response_status: Option<i64>,
    pub(crate) response_body: Option<String>,
}

/// A connected account in one mode.
#[derive(Debug, Deserialize)]
pub(crate) struct Connection {
    pub(crate) account: String,
    pub(crate) livemode: i64,
    pub(crate) client_id: String,
    pub(crate) deauthorized_at: Option<i64>,
}

/// An authorization code being redeemed.
#[derive(Debug, Deserialize)]
pub(crate) struct Code {
    pub(crate) client_id: String,
    pub(crate) account: String,
    pub(crate) scope: String,
    pub(crate) expires_at: i64,
    pub(crate) used_at: Option<i64>,
}

/// A webhook endpoint with what its object does not show.
#[derive(Debug, Deserialize)]
pub(crate) struct EndpointRow {
    pub(crate) account: String,
    pub(crate) livemode: i64,
    pub(crate) body: String,
    pub(crate) secret: String,
    pub(crate) connect: i64,
}

/// One recorded delivery attempt.
#[derive(Debug, Deserialize)]
pub(crate) struct DeliveryRow {
    pub(crate) event_id: String,
    pub(crate) endpoint_id: String,
    pub(crate) url: String,
    pub(crate) attempted_at: i64,
    pub(crate) status: Option<i64>,
    pub(crate) error: Option<String>,
    pub(crate) duration_ms: i64,
}

/// An injected fault that fired.
#[derive(Debug, Deserialize)]
pub(crate) struct FaultRow {
    pub(crate) status: i64,
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
}

/// A fault to inject.
#[derive(Debug)]
pub(crate) struct NewFault<'a> {
    pub(crate) path_prefix: &'a str,
    pub(crate) method: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) count: i64,
    pub(crate) code: Option<&'a str>,
    pub(crate) message: Option<&'a str>,
}

fn parse_body(text: &str) -> Result<Value, Fail> {
    Ok(serde_json::from_str(text)?)
}

/// The sandbox's database.
#[derive(Debug)]
pub(crate) struct Store {
    db: D1Database,
}

impl Store {
    pub(crate) fn open(env: &Env) -> Result<Self, Fail> {
        Ok(Self {
            db: db::database_named(env, BINDING)?,
        })
    }

    // --- objects ---------------------------------------------------------------------

    /// The object `id` of type `kind` in `scope`.
    pub(crate) async fn get(
        &self,
        scope: &Scope,
        kind: &str,
        id: &str,
    ) -> Result<Option<Value>, Fail> {
        let row: Option<BodyRow> = db::first(
            &self.db,
            "SELECT body FROM objects WHERE account = ?1 AND livemode = ?2 AND id = ?3 AND type = ?4",
            &[text(&scope.account), scope.mode(), text(id), text(kind)],
        )
        .await?;
        row.map(|r| parse_body(&r.body)).transpose()
    }

    /// The object `id` of type `kind` wherever it lives (hosted pages know only the id).
    pub(crate) async fn find(&self, kind: &str, id: &str) -> Result<Option<(Scope, Value)>, Fail> {
        let row: Option<ScopedRow> = db::first(
            &self.db,
            "SELECT account, livemode, body FROM objects WHERE id = ?1 AND type = ?2",
            &[text(id), text(kind)],
        )
        .await?;
        row.map(|r| {
            Ok((
                Scope {
                    account: r.account,
                    livemode: r.livemode == 1,
                },
                parse_body(&r.body)?,
            ))
        })
        .transpose()
    }

    /// Stores a new object of type `kind` (its id is its `id` field), created at `now_ms`.
    pub(crate) fn insert(
        &self,
        scope: &Scope,
        kind: &str,
        body: &Value,
        now_ms: i64,
    ) -> Result<D1PreparedStatement, Fail> {
        let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
        Ok(stmt(
            &self.db,
            "INSERT INTO objects (account, livemode, id, type, created, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                text(&scope.account),
                scope.mode(),
                text(id),
                text(kind),
                int(now_ms),
                text(&serde_json::to_string(body)?),
            ],
        )?)
    }

    /// Replaces a stored object with its new state.
    pub(crate) fn replace(&self, scope: &Scope, body: &Value) -> Result<D1PreparedStatement, Fail> {
        let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
        Ok(stmt(
            &self.db,
            "UPDATE objects SET body = ?4 WHERE account = ?1 AND livemode = ?2 AND id = ?3",
            &[
                text(&scope.account),
                scope.mode(),
                text(id),
                text(&serde_json::to_string(body)?),
            ],
        )?)
    }

    /// Removes an object.
    pub(crate) fn remove(&self, scope: &Scope, id: &str) -> Result<D1PreparedStatement, Fail> {
        Ok(stmt(
            &self.db,
            "DELETE FROM objects WHERE account = ?1 AND livemode = ?2 AND id = ?3",
            &[text(&scope.account), scope.mode(), text(id)],
        )?)
    }

    /// A page of objects of type `kind` in `scope` matching `filters`, newest first, and
    /// whether more follow. The paging cursor must exist (checked by the caller).
    pub(crate) async fn list(
        &self,
        scope: &Scope,
        kind: &str,
        filters: &[Filter],
        options: &ListOptions,
    ) -> Result<(Vec<Value>, bool), Fail> {
        let mut sql = String::from(
            "SELECT body FROM objects WHERE account = ?1 AND livemode = ?2 AND type = ?3",
        );
        let mut params = vec![text(&scope.account), scope.mode(), text(kind)];
        for filter in filters {
            // Paths are literals of this crate (see `Filter`), never caller text.
            match filter {
                Filter::Eq(path, value) => {
                    params.push(match value {
                        Value::Bool(b) => int(i64::from(*b)),
                        Value::Number(n) => int(n.as_i64().unwrap_or_default()),
                        other => text(other.as_str().unwrap_or_default()),
                    });
                    sql.push_str(&format!(
                        " AND json_extract(body, '{path}') = ?{}",
                        params.len()
                    ));
                }
                Filter::NotIn(path, values) => {
                    let mut placeholders = Vec::new();
                    for value in values {
                        params.push(text(value));
                        placeholders.push(format!("?{}", params.len()));
                    }
                    sql.push_str(&format!(
                        " AND (json_extract(body, '{path}') IS NULL OR json_extract(body, '{path}') NOT IN ({}))",
                        placeholders.join(", ")
                    ));
                }
                Filter::Prefix(path, prefix) => {
                    params.push(text(prefix));
                    let at = params.len();
                    sql.push_str(&format!(
                        " AND substr(json_extract(body, '{path}'), 1, length(?{at})) = ?{at}"
                    ));
                }
            }
        }
        let backwards = options.ending_before.is_some();
        if let Some(cursor) = options
            .starting_after
            .as_ref()
            .or(options.ending_before.as_ref())
        {
            params.push(text(cursor));
            let at = params.len();
            let comparison = if backwards { ">" } else { "<" };
            sql.push_str(&format!(
                " AND (created, rowid) {comparison} (SELECT created, rowid FROM objects WHERE account = ?1 AND livemode = ?2 AND id = ?{at})"
            ));
        }
        let order = if backwards { "ASC" } else { "DESC" };
        sql.push_str(&format!(
            " ORDER BY created {order}, rowid {order} LIMIT {}",
            options.limit + 1
        ));
        let rows: Vec<BodyRow> = db::all(&self.db, &sql, &params).await?;
        let has_more = rows.len() > options.limit as usize;
        let mut data = rows
            .into_iter()
            .take(options.limit as usize)
            .map(|r| parse_body(&r.body))
            .collect::<Result<Vec<_>, _>>()?;
        if backwards {
            data.reverse();
        }
        Ok((data, has_more))
    }

    /// Runs `writes` as one atomic batch.
    pub(crate) async fn commit(&self, writes: Vec<D1PreparedStatement>) -> Result<(), Fail> {
        if !writes.is_empty() {
            db::batch(&self.db, writes).await?;
        }
        Ok(())
    }

    // --- idempotency -----------------------------------------------------------------

    /// Claims `key` for request `request_id` with `fingerprint`; `true` when this request
    /// owns it. An expired record is taken over.
    pub(crate) async fn claim_key(
        &self,
        scope: &Scope,
        key: &str,
        fingerprint: &str,
        request_id: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<bool, Fail> {
        let result = stmt(
            &self.db,
            "INSERT INTO idempotency_keys (account, livemode, key, fingerprint, request_id, status, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?7, 'in_flight', ?6) \
             ON CONFLICT (account, livemode, key) DO UPDATE SET fingerprint = excluded.fingerprint, request_id = excluded.request_id, \
             status = 'in_flight', response_status = NULL, response_body = NULL, expires_at = excluded.expires_at \
             WHERE idempotency_keys.expires_at <= ?5",
            &[
                text(&scope.account),
                scope.mode(),
                text(key),
                text(fingerprint),
                int(now_ms),
                int(expires_at),
                text(request_id),
            ],
        )?
        .run()
        .await?;
        Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
    }

    pub(crate) async fn key_record(
        &self,
        scope: &Scope,
        key: &str,
    ) -> Result<Option<KeyRecord>, Fail> {
        Ok(db::first(
            &self.db,
            "SELECT fingerprint, request_id, status, response_status, response_body FROM idempotency_keys WHERE account = ?1 AND livemode = ?2 AND key = ?3",
            &[text(&scope.account), scope.mode(), text(key)],
        )
        .await?)
    }

    /// Records the answer to a claimed key, in the request's batch.
    pub(crate) fn complete_key(
        &self,
        scope: &Scope,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<D1PreparedStatement, Fail> {
        Ok(stmt(
            &self.db,
            "UPDATE idempotency_keys SET status = 'completed', response_status = ?4, response_body = ?5 WHERE account = ?1 AND livemode = ?2 AND key = ?3",
            &[
                text(&scope.account),
                scope.mode(),
                text(key),
                int(status.into()),
                text(body),
            ],
        )?)
    }

    /// Gives a claim up after a failed request, so a retry runs again.
    pub(crate) async fn release_key(&self, scope: &Scope, key: &str) -> Result<(), Fail> {
        stmt(
            &self.db,
            "DELETE FROM idempotency_keys WHERE account = ?1 AND livemode = ?2 AND key = ?3 AND status = 'in_flight'",
            &[text(&scope.account), scope.mode(), text(key)],
        )?
        .run()
        .await?;
        Ok(())
    }

    // --- Connect ---------------------------------------------------------------------

    pub(crate) fn insert_code(
        &self,
        code: &str,
        client_id: &str,
        account: &str,
        scope: &str,
        expires_at: i64,
    ) -> Result<D1PreparedStatement, Fail> {
        Ok(stmt(
            &self.db,
            "INSERT INTO oauth_codes (code, client_id, account, scope, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                text(code),
                text(client_id),
                text(account),
                text(scope),
                int(expires_at),
            ],
        )?)
    }

    pub(crate) async fn code(&self, code: &str) -> Result<Option<Code>, Fail> {
        Ok(db::first(
            &self.db,
            "SELECT client_id, account, scope, expires_at, used_at FROM oauth_codes WHERE code = ?1",
            &[text(code)],
        )
        .await?)
    }

    /// Marks a code used, only if it is unused and unexpired at `now_ms`; `true` when this
    /// request redeemed it (so two exchanges of one code cannot both succeed).
    pub(crate) async fn redeem_code(&self, code: &str, now_ms: i64) -> Result<bool, Fail> {
        let result = stmt(
            &self.db,
            "UPDATE oauth_codes SET used_at = ?2 WHERE code = ?1 AND used_at IS NULL AND expires_at > ?2",
            &[text(code), int(now_ms)],
        )?
        .run()
        .await?;
        Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
    }

    /// Connects (or reconnects) `account` in a mode with a new access token.
    pub(crate) fn connect(
        &self,
        account: &str,
        livemode: bool,
        client_id: &str,
        access_token: &str,
        now_ms: i64,
    ) -> Result<D1PreparedStatement, Fail> {
        Ok(stmt(
            &self.db,
            "INSERT INTO connections (account, livemode, client_id, access_token, connected_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (account, livemode) DO UPDATE SET client_id = excluded.client_id, access_token = excluded.access_token, \
             connected_at = excluded.connected_at, deauthorized_at = NULL",
            &[
                text(account),
                int(i64::from(livemode)),
                text(client_id),
                text(access_token),
                int(now_ms),
            ],
        )?)
    }

    pub(crate) async fn connection(
        &self,
        account: &str,
        livemode: bool,
    ) -> Result<Option<Connection>, Fail> {
        Ok(db::first(
            &self.db,
            "SELECT account, livemode, client_id, deauthorized_at FROM connections WHERE account = ?1 AND livemode = ?2",
            &[text(account), int(i64::from(livemode))],
        )
        .await?)
    }

    pub(crate) async fn connection_by_token(
        &self,
        token: &str,
    ) -> Result<Option<Connection>, Fail> {
        Ok(db::first(
            &self.db,
            "SELECT account, livemode, client_id, deauthorized_at FROM connections WHERE access_token = ?1",
            &[text(token)],
        )
        .await?)
    }

    pub(crate) fn deauthorize(
        &self,
        account: &str,
        livemode: bool,
        now_ms: i64,
    ) -> Result<D1PreparedStatement, Fail> {
        Ok(stmt(
            &self.db,
            "UPDATE connections SET deauthorized_at = ?3 WHERE account = ?1 AND livemode = ?2",
            &[text(account), int(i64::from(livemode)), int(now_ms)],
        )?)
    }

    // --- webhooks --------------------------------------------------------------------

    pub(crate) fn insert_endpoint_settings(
        &self,
        endpoint: &str,
        secret: &str,
        connect: bool,
    ) -> Result<D1PreparedStatement, Fail> {
        Ok(stmt(
            &self.db,
            "INSERT INTO endpoint_settings (endpoint_id, secret, connect) VALUES (?1, ?2, ?3)",
            &[text(endpoint), text(secret), int(i64::from(connect))],
        )?)
    }

    pub(crate) fn remove_endpoint_settings(
        &self,
        endpoint: &str,
    ) -> Result<D1PreparedStatement, Fail> {
        Ok(stmt(
            &self.db,
            "DELETE FROM endpoint_settings WHERE endpoint_id = ?1",
            &[text(endpoint)],
        )?)
    }

    /// Every webhook endpoint of every account in a mode (few; routing happens in Rust).
    pub(crate) async fn endpoints(&self, livemode: bool) -> Result<Vec<EndpointRow>, Fail> {
        Ok(db::all(
            &self.db,
            "SELECT o.account, o.livemode, o.body, s.secret, s.connect FROM objects o JOIN endpoint_settings s ON s.endpoint_id = o.id \
             WHERE o.type = 'webhook_endpoint' AND o.livemode = ?1 ORDER BY o.created, o.rowid",
            &[int(i64::from(livemode))],
        )
        .await?)
    }

    pub(crate) fn record_delivery(&self, row: &DeliveryRow) -> Result<D1PreparedStatement, Fail> {
        Ok(stmt(
            &self.db,
            "INSERT INTO deliveries (event_id, endpoint_id, url, attempted_at, status, error, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                text(&row.event_id),
                text(&row.endpoint_id),
                text(&row.url),
                int(row.attempted_at),
                row.status.map_or(JsValue::NULL, int),
                opt_text(row.error.as_deref()),
                int(row.duration_ms),
            ],
        )?)
    }

    pub(crate) async fn deliveries(&self, event: &str) -> Result<Vec<DeliveryRow>, Fail> {
        Ok(db::all(
            &self.db,
            "SELECT event_id, endpoint_id, url, attempted_at, status, error, duration_ms FROM deliveries WHERE event_id = ?1 ORDER BY id",
            &[text(event)],
        )
        .await?)
    }

    // --- faults ----------------------------------------------------------------------

    pub(crate) async fn add_fault(&self, fault: &NewFault<'_>, now_ms: i64) -> Result<i64, Fail> {
        #[derive(Deserialize)]
        struct Id {
            id: i64,
        }
        let row: Option<Id> = db::first(
            &self.db,
            "INSERT INTO faults (path_prefix, method, status, remaining, code, message, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            &[
                text(fault.path_prefix),
                opt_text(fault.method),
                int(fault.status.into()),
                int(fault.count),
                opt_text(fault.code),
                opt_text(fault.message),
                int(now_ms),
            ],
        )
        .await?;
        row.map(|r| r.id)
            .ok_or_else(|| Fail::Internal("fault insert returned no id".into()))
    }

    /// Spends one use of the oldest fault matching this call, if any. A delivery
    /// (`/_delivery/{type}`) or a payment (`/_payment/{subscription}`) matches only faults
    /// armed under the same prefix, never a broad `/`.
    pub(crate) async fn take_fault(
        &self,
        method: &str,
        path: &str,
    ) -> Result<Option<FaultRow>, Fail> {
        Ok(db::first(
            &self.db,
            "UPDATE faults SET remaining = remaining - 1 WHERE id = (SELECT id FROM faults WHERE remaining > 0 \
             AND substr(?1, 1, length(path_prefix)) = path_prefix AND (method IS NULL OR method = ?2) \
             AND (substr(?1, 1, 11) != '/_delivery/' OR substr(path_prefix, 1, 11) = '/_delivery/') \
             AND (substr(?1, 1, 10) != '/_payment/' OR substr(path_prefix, 1, 10) = '/_payment/') ORDER BY id LIMIT 1) \
             RETURNING status, code, message",
            &[text(path), text(method)],
        )
        .await?)
    }

    /// Removes every fault; answers how many were still armed.
    pub(crate) async fn clear_faults(&self) -> Result<usize, Fail> {
        let result = stmt(&self.db, "DELETE FROM faults WHERE remaining > 0", &[])?
            .run()
            .await?;
        stmt(&self.db, "DELETE FROM faults", &[])?.run().await?;
        Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0))
    }
}
