-- Outbound webhooks to developers, as built: 0001 sketched both tables before any code wrote
-- them, so they are made again here with what delivery needs (no row can exist yet).
--
-- Emitting an event inserts one delivery per enabled endpoint subscribed to its type
-- (INSERT … SELECT, in the same batch as the change it reports); UNIQUE (endpoint_id,
-- event_id) makes a second emission of the same event a no-op. Queues then carries each
-- delivery to the webhooks worker, which signs and sends it.
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;

CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,                                   -- whe_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  url TEXT NOT NULL,                                     -- checked: https, public host (test: loopback too)
  description TEXT,
  events TEXT NOT NULL DEFAULT '["*"]',                  -- JSON array of event types, or ["*"]
  status TEXT NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  secret_enc TEXT NOT NULL,                              -- whsec_… sealed (AES-GCM); '' once deleted
  secret_last4 TEXT NOT NULL,                            -- for display
  -- During a rotation's grace period the old secret signs beside the new one.
  previous_secret_enc TEXT,
  previous_secret_expires_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER                                     -- soft delete: the secret is wiped, deliveries stop
);
CREATE INDEX webhook_endpoints_by_project ON webhook_endpoints (project_id, created_at);

CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,                                   -- whd_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
  event_id TEXT NOT NULL,                                -- evt_…: `webhook-id`, the id the developer deduplicates on
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,                                 -- the exact body sent (never a secret)
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at INTEGER,                               -- when the queued message should run (a lease while an attempt runs)
  last_attempt_at INTEGER,
  last_status_code INTEGER,                              -- the receiver's answer; NULL when it gave none
  last_error TEXT,                                       -- why the last attempt failed, for the developer
  deadline_at INTEGER NOT NULL,                          -- retried until then (24 h after it was queued), then failed
  delivered_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_project ON webhook_deliveries (project_id, created_at DESC, id DESC);
