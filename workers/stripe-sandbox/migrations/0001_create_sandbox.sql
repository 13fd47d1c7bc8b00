-- The Stripe sandbox's own database: a document store of Stripe objects plus the records
-- Stripe keeps beside them (idempotency keys, Connect authorizations, webhook deliveries,
-- injected faults). Times are Unix milliseconds; the objects themselves carry Stripe's
-- Unix seconds inside their JSON.

-- Every Stripe object, as the JSON the API answers with, scoped to the account and mode it
-- lives in. Ids are random, so they are also unique on their own (hosted pages look them up
-- without a key).
CREATE TABLE objects (
  account  TEXT    NOT NULL,
  livemode INTEGER NOT NULL CHECK (livemode IN (0, 1)),
  id       TEXT    NOT NULL,
  type     TEXT    NOT NULL,
  created  INTEGER NOT NULL,
  body     TEXT    NOT NULL,
  PRIMARY KEY (account, livemode, id)
);
CREATE UNIQUE INDEX objects_by_id ON objects (id);
CREATE INDEX objects_by_type ON objects (account, livemode, type, created);

-- Idempotency-Key records: claimed before the request runs, completed with the answer.
CREATE TABLE idempotency_keys (
  account         TEXT    NOT NULL,
  livemode        INTEGER NOT NULL,
  key             TEXT    NOT NULL,
  fingerprint     TEXT    NOT NULL,
  request_id      TEXT    NOT NULL,
  status          TEXT    NOT NULL CHECK (status IN ('in_flight', 'completed')),
  response_status INTEGER,
  response_body   TEXT,
  expires_at      INTEGER NOT NULL,
  PRIMARY KEY (account, livemode, key)
);

-- Connect OAuth authorization codes: single use, short-lived.
CREATE TABLE oauth_codes (
  code       TEXT PRIMARY KEY,
  client_id  TEXT    NOT NULL,
  account    TEXT    NOT NULL,
  scope      TEXT    NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
);

-- Connected accounts, per mode: what lets a platform act with `Stripe-Account`.
CREATE TABLE connections (
  account         TEXT    NOT NULL,
  livemode        INTEGER NOT NULL,
  client_id       TEXT    NOT NULL,
  access_token    TEXT    NOT NULL UNIQUE,
  connected_at    INTEGER NOT NULL,
  deauthorized_at INTEGER,
  PRIMARY KEY (account, livemode)
);

-- What a webhook endpoint object does not show: its signing secret and whether it listens to
-- connected accounts.
CREATE TABLE endpoint_settings (
  endpoint_id TEXT PRIMARY KEY,
  secret      TEXT    NOT NULL,
  connect     INTEGER NOT NULL CHECK (connect IN (0, 1))
);

-- Every delivery attempt of every event to every endpoint.
CREATE TABLE deliveries (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id     TEXT    NOT NULL,
  endpoint_id  TEXT    NOT NULL,
  url          TEXT    NOT NULL,
  attempted_at INTEGER NOT NULL,
  status       INTEGER,
  error        TEXT,
  duration_ms  INTEGER NOT NULL
);
CREATE INDEX deliveries_by_event ON deliveries (event_id, id);

-- Injected faults: the next `remaining` API calls under `path_prefix` answer `status`.
CREATE TABLE faults (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  path_prefix TEXT    NOT NULL,
  method      TEXT,
  status      INTEGER NOT NULL,
  remaining   INTEGER NOT NULL,
  code        TEXT,
  message     TEXT,
  created_at  INTEGER NOT NULL
);
