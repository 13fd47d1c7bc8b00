-- Tollgate's schema: the source of truth for every worker.
--
-- Rules (docs/architecture.md): ids are TEXT with a type prefix; times are INTEGER Unix
-- milliseconds; money is INTEGER minor units beside a currency; integers stay within ±2^53;
-- multi-row changes run as one atomic batch. Migrations only move forward: a later change
-- is a new numbered file, never an edit of this one.

-- A developer's account. One per identity (issuer + subject), so two concurrent first
-- sign-ins create one platform (INSERT … ON CONFLICT DO NOTHING).
CREATE TABLE platforms (
  id TEXT PRIMARY KEY,                                   -- plt_…
  issuer TEXT NOT NULL,                                  -- OIDC `iss` of the developer's identity
  subject TEXT NOT NULL,                                 -- OIDC `sub`
  email TEXT,
  -- The developer's own Tollgate subscription (gates live traffic).
  billing_status TEXT NOT NULL DEFAULT 'none'
    CHECK (billing_status IN ('none', 'trialing', 'active', 'past_due', 'canceled', 'unpaid')),
  billing_customer_id TEXT,                              -- cus_… on Tollgate's own Stripe account
  billing_subscription_id TEXT,                          -- sub_… on Tollgate's own Stripe account
  trial_ends_at INTEGER,
  current_period_end INTEGER,
  billing_event_at INTEGER,                              -- `created` of the last applied billing event: older events are ignored
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (issuer, subject)
);

-- A project is one publishable key. Type and mode are fixed at creation; promotion to live
-- creates a new live project pointing back at its test original.
CREATE TABLE projects (
  id TEXT PRIMARY KEY,                                   -- prj_…
  platform_id TEXT NOT NULL REFERENCES platforms (id),
  name TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('saas', 'store')),
  mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
  publishable_key TEXT NOT NULL UNIQUE,                  -- pk_test_… / pk_live_… (public by design)
  promoted_from TEXT REFERENCES projects (id),
  -- Optional: the project's own identity provider for end-user JWTs (RS256 via JWKS).
  end_user_issuer TEXT,
  end_user_jwks_url TEXT,
  end_user_audience TEXT,
  -- Per-project rate limits in requests per second; NULL means the platform default.
  rate_limit_secret INTEGER CHECK (rate_limit_secret IS NULL OR rate_limit_secret > 0),
  rate_limit_publishable INTEGER CHECK (rate_limit_publishable IS NULL OR rate_limit_publishable > 0),
  enable_tax INTEGER NOT NULL DEFAULT 0 CHECK (enable_tax IN (0, 1)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER                                     -- soft delete: its keys stop working
);
CREATE INDEX projects_by_platform ON projects (platform_id, created_at);
CREATE UNIQUE INDEX projects_one_promotion ON projects (promoted_from) WHERE promoted_from IS NOT NULL AND deleted_at IS NULL;

-- Secret keys. Only a keyed hash (HMAC-SHA256 with a server-side pepper) is stored; the key
-- itself is shown once. A rotated key keeps working until `expires_at` (its grace period).
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,                                   -- key_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  hash TEXT NOT NULL UNIQUE,                             -- hex HMAC-SHA256(pepper, key)
  prefix TEXT NOT NULL,                                  -- sk_test_ / sk_live_, for display
  last4 TEXT NOT NULL,                                   -- for display
  status TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
  expires_at INTEGER,                                    -- end of the grace period of a rotated key
  replaced_by TEXT REFERENCES api_keys (id),
  created_at INTEGER NOT NULL,
  rotated_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX api_keys_by_project ON api_keys (project_id, created_at);

-- SaaS tiers. `usage_limit` NULL means unlimited. The default tier is what an end user
-- without a subscription gets (at most one per project).
CREATE TABLE tiers (
  id TEXT PRIMARY KEY,                                   -- tier_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  name TEXT NOT NULL,                                    -- slug, unique in the project
  display_name TEXT NOT NULL,
  description TEXT,
  price INTEGER NOT NULL CHECK (price >= 0),             -- minor units per interval
  currency TEXT NOT NULL DEFAULT 'usd',
  interval TEXT NOT NULL DEFAULT 'month' CHECK (interval IN ('month', 'year')),
  usage_limit INTEGER CHECK (usage_limit IS NULL OR usage_limit >= 0),
  features TEXT NOT NULL DEFAULT '[]',                   -- JSON array of strings
  popular INTEGER NOT NULL DEFAULT 0 CHECK (popular IN (0, 1)),
  is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
  trial_days INTEGER NOT NULL DEFAULT 0 CHECK (trial_days >= 0),
  image_url TEXT,
  sort_order INTEGER NOT NULL DEFAULT 0,
  stripe_product_id TEXT,
  stripe_price_id TEXT,
  archived_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (project_id, name)
);
CREATE UNIQUE INDEX tiers_one_default ON tiers (project_id) WHERE is_default = 1 AND archived_at IS NULL;
CREATE INDEX tiers_by_price ON tiers (stripe_price_id);

-- Store products. `inventory` counts units still available (NULL = unlimited): a checkout
-- reserves by decrementing it, an expired checkout gives the units back, and the CHECK makes
-- overselling impossible rather than clamped.
CREATE TABLE products (
  id TEXT PRIMARY KEY,                                   -- prod_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  name TEXT NOT NULL,                                    -- slug, unique in the project
  display_name TEXT NOT NULL,
  description TEXT,
  price INTEGER NOT NULL CHECK (price >= 0),
  currency TEXT NOT NULL DEFAULT 'usd',
  features TEXT NOT NULL DEFAULT '[]',
  image_url TEXT,
  inventory INTEGER CHECK (inventory IS NULL OR inventory >= 0),
  asset_id TEXT REFERENCES assets (id),                  -- the protected download, if any
  sort_order INTEGER NOT NULL DEFAULT 0,
  stripe_product_id TEXT,
  stripe_price_id TEXT,
  archived_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (project_id, name)
);
CREATE INDEX products_by_price ON products (stripe_price_id);

-- Stripe Connect: one connected account per platform and mode. Tokens are encrypted at rest.
-- An account belongs to one platform per mode, so webhook events map to exactly one owner.
CREATE TABLE stripe_connections (
  platform_id TEXT NOT NULL REFERENCES platforms (id),
  mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
  account_id TEXT NOT NULL,                              -- acct_…
  access_token_enc TEXT NOT NULL,
  refresh_token_enc TEXT,
  scope TEXT,
  status TEXT NOT NULL DEFAULT 'connected' CHECK (status IN ('connected', 'deauthorized')),
  connected_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (platform_id, mode)
);
CREATE UNIQUE INDEX stripe_connections_by_account ON stripe_connections (account_id, mode);

-- Single-use OAuth `state` values for Connect onboarding.
CREATE TABLE oauth_states (
  state TEXT PRIMARY KEY,
  platform_id TEXT NOT NULL REFERENCES platforms (id),
  mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);

-- A developer's end users. `plan` is the tier assigned without a subscription (NULL = the
-- project's default tier); a subscription, when active, decides instead. Bumping
-- `token_version` invalidates every end-user token minted before.
CREATE TABLE end_users (
  id TEXT PRIMARY KEY,                                   -- cus_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  external_id TEXT,                                      -- the developer's own id for this user
  email TEXT,
  plan TEXT,
  stripe_customer_id TEXT,
  token_version INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deleted_at INTEGER                                     -- usage is deleted; billing records stay
);
CREATE UNIQUE INDEX end_users_by_external_id ON end_users (project_id, external_id) WHERE external_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX end_users_by_email ON end_users (project_id, email);
CREATE INDEX end_users_by_created ON end_users (project_id, created_at);

-- Subscriptions on the developer's connected account. `stripe_event_at` is the `created`
-- time of the newest event applied, so an older event never overwrites newer state.
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,                                   -- subr_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  end_user_id TEXT NOT NULL REFERENCES end_users (id),
  tier_id TEXT REFERENCES tiers (id),
  plan TEXT NOT NULL,                                    -- tier name when it was granted
  stripe_subscription_id TEXT NOT NULL UNIQUE,
  stripe_customer_id TEXT NOT NULL,
  stripe_price_id TEXT,
  status TEXT NOT NULL CHECK (status IN ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')),
  amount INTEGER NOT NULL CHECK (amount >= 0),           -- minor units per interval
  currency TEXT NOT NULL,
  interval TEXT NOT NULL CHECK (interval IN ('month', 'year')),
  current_period_start INTEGER,
  current_period_end INTEGER,
  cancel_at_period_end INTEGER NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
  canceled_at INTEGER,
  stripe_event_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX subscriptions_by_end_user ON subscriptions (project_id, end_user_id, status);
CREATE INDEX subscriptions_by_status ON subscriptions (project_id, status);

-- Usage per end user and period. The track call is one conditional upsert that increments
-- only while the result stays within the limit, so concurrent calls can never overshoot.
CREATE TABLE usage_counters (
  project_id TEXT NOT NULL REFERENCES projects (id),
  end_user_id TEXT NOT NULL REFERENCES end_users (id),
  period_start INTEGER NOT NULL,
  period_end INTEGER NOT NULL,
  count INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, end_user_id, period_start)
) WITHOUT ROWID;

-- Checkout sessions Tollgate created, so a completed session is applied only to the
-- project, end user, tier or order it was made for — never to what its metadata claims.
CREATE TABLE checkout_sessions (
  id TEXT PRIMARY KEY,                                   -- cs_… (Stripe's id)
  project_id TEXT NOT NULL REFERENCES projects (id),
  account_id TEXT NOT NULL,                              -- the connected account it lives on
  kind TEXT NOT NULL CHECK (kind IN ('subscription', 'payment')),
  end_user_id TEXT REFERENCES end_users (id),
  tier_id TEXT REFERENCES tiers (id),
  order_id TEXT REFERENCES orders (id),
  status TEXT NOT NULL CHECK (status IN ('open', 'complete', 'expired')),
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX checkout_sessions_by_project ON checkout_sessions (project_id, created_at);

-- Store orders (cart checkouts). Amounts come from the products, never from the client.
CREATE TABLE orders (
  id TEXT PRIMARY KEY,                                   -- ord_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  end_user_id TEXT REFERENCES end_users (id),            -- NULL for guests
  email TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'expired', 'refunded')),
  amount_total INTEGER NOT NULL CHECK (amount_total >= 0),
  currency TEXT NOT NULL,
  stripe_payment_intent_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  paid_at INTEGER
);
CREATE INDEX orders_by_project ON orders (project_id, status, created_at);

-- The lines of an order and the inventory each one holds: `held` while the checkout is
-- open (units already taken from products.inventory), `committed` once paid, `released`
-- (units given back) when the checkout expired.
CREATE TABLE inventory_reservations (
  order_id TEXT NOT NULL REFERENCES orders (id),
  product_id TEXT NOT NULL REFERENCES products (id),
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_amount INTEGER NOT NULL CHECK (unit_amount >= 0),
  status TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (order_id, product_id)
) WITHOUT ROWID;
CREATE INDEX inventory_reservations_by_product ON inventory_reservations (product_id, status);

-- What a buyer may download or use, granted by a paid order.
CREATE TABLE entitlements (
  id TEXT PRIMARY KEY,                                   -- ent_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  order_id TEXT NOT NULL REFERENCES orders (id),
  product_id TEXT NOT NULL REFERENCES products (id),
  end_user_id TEXT REFERENCES end_users (id),
  email TEXT,
  status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
  granted_at INTEGER NOT NULL,
  revoked_at INTEGER,
  UNIQUE (order_id, product_id)
);
CREATE INDEX entitlements_by_end_user ON entitlements (project_id, end_user_id);

-- Every Stripe event seen. The primary key makes applying an event exactly-once: the row
-- and the event's effects are written in one batch, and a replay conflicts on the id.
CREATE TABLE stripe_events (
  id TEXT PRIMARY KEY,                                   -- evt_…
  type TEXT NOT NULL,
  account_id TEXT,                                       -- NULL for Tollgate's own account
  platform_id TEXT REFERENCES platforms (id),
  project_id TEXT REFERENCES projects (id),
  livemode INTEGER NOT NULL CHECK (livemode IN (0, 1)),
  created INTEGER NOT NULL,                              -- Stripe's `created`, in ms
  outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'stale', 'unrelated', 'unhandled')),
  received_at INTEGER NOT NULL
);
CREATE INDEX stripe_events_by_project ON stripe_events (project_id, received_at);

-- Idempotency-Key records (24 h). The fingerprint is a hash of method, path and body: the
-- same key with another body is refused; an `in_flight` record answers 409.
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,                                   -- whose key space: a platform or project id
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('in_flight', 'completed')),
  response_status INTEGER,
  response_body TEXT,                                    -- never holds a secret in the clear
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

-- The audit trail: one row per developer write, in the same batch as the write.
-- `metadata` is redacted JSON and never holds a secret.
CREATE TABLE audit_events (
  id TEXT PRIMARY KEY,                                   -- aud_…
  platform_id TEXT NOT NULL REFERENCES platforms (id),
  project_id TEXT REFERENCES projects (id),
  actor TEXT NOT NULL,                                   -- developer subject, or `stripe` / `system`
  action TEXT NOT NULL,                                  -- e.g. project.created, key.rotated
  target_type TEXT NOT NULL,
  target_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  ip TEXT,
  user_agent TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL
);
CREATE INDEX audit_events_by_platform ON audit_events (platform_id, created_at DESC, id DESC);
CREATE INDEX audit_events_by_project ON audit_events (project_id, created_at DESC, id DESC);

-- Files in R2. Public assets are served as-is; protected ones only through short-lived
-- download tokens backed by an entitlement.
CREATE TABLE assets (
  id TEXT PRIMARY KEY,                                   -- ast_…
  platform_id TEXT NOT NULL REFERENCES platforms (id),
  project_id TEXT REFERENCES projects (id),
  r2_key TEXT NOT NULL UNIQUE,
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size INTEGER NOT NULL CHECK (size >= 0),
  sha256 TEXT NOT NULL,
  visibility TEXT NOT NULL CHECK (visibility IN ('public', 'protected')),
  created_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE INDEX assets_by_project ON assets (project_id, created_at);

-- Outbound webhooks to the developer's own endpoint, signed with a per-endpoint secret.
CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,                                   -- whe_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  url TEXT NOT NULL,
  secret_enc TEXT NOT NULL,                              -- encrypted at rest
  events TEXT NOT NULL DEFAULT '["*"]',                  -- JSON array of event types
  status TEXT NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_project ON webhook_endpoints (project_id);

CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,                                   -- whd_…
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
  event_id TEXT NOT NULL,                                -- the id the developer deduplicates on
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  last_status_code INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
