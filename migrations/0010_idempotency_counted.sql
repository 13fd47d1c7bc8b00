-- A claim can be `counted`: a metered call marks its claim in the batch that counts it, so a
-- call whose answer was lost (the answer is recorded after the count) is never taken over
-- after the claim's lease and never counted twice. SQLite cannot alter a CHECK, so the table
-- is rebuilt with its rows.
CREATE TABLE idempotency_keys_next (
  scope TEXT NOT NULL,                                   -- whose key space: a platform or project id
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('in_flight', 'counted', 'completed')),
  response_status INTEGER,
  response_body TEXT,                                    -- never holds a secret in the clear
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
INSERT INTO idempotency_keys_next (scope, key, fingerprint, status, response_status, response_body, created_at, expires_at)
  SELECT scope, key, fingerprint, status, response_status, response_body, created_at, expires_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_next RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
