-- Access waits for money. A Checkout session can complete before it is paid (delayed
-- methods: SEPA, ACH, Boleto, bank transfers), and a paid order can later be refunded,
-- disputed, or found unfulfillable because its hold lapsed. Both tables gain the states
-- that say so; SQLite cannot alter a CHECK, so each is rebuilt with its rows.
--
-- checkout_sessions: `awaiting_payment` (complete at Stripe, not yet paid: stock stays held,
-- nothing is granted) and `failed` (the delayed payment failed: stock released).
-- orders: `awaiting_payment`, `failed`, `disputed` (a dispute is open: access revoked until
-- it is won), and `needs_attention` (paid, but the stock it held was gone: nothing granted,
-- the developer decides).
PRAGMA defer_foreign_keys = true;

CREATE TABLE orders_next (
  id TEXT PRIMARY KEY,                                   -- ord_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  end_user_id TEXT REFERENCES end_users (id),            -- NULL for guests
  email TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'awaiting_payment', 'paid', 'failed', 'expired', 'refunded', 'disputed', 'needs_attention')),
  amount_total INTEGER NOT NULL CHECK (amount_total >= 0),
  currency TEXT NOT NULL,
  stripe_payment_intent_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  paid_at INTEGER
);
INSERT INTO orders_next (id, project_id, end_user_id, email, status, amount_total, currency, stripe_payment_intent_id, created_at, updated_at, paid_at)
  SELECT id, project_id, end_user_id, email, status, amount_total, currency, stripe_payment_intent_id, created_at, updated_at, paid_at FROM orders;
DROP TABLE orders;
ALTER TABLE orders_next RENAME TO orders;
CREATE INDEX orders_by_project ON orders (project_id, status, created_at);

CREATE TABLE checkout_sessions_next (
  id TEXT PRIMARY KEY,                                   -- cs_… (Stripe's id)
  project_id TEXT NOT NULL REFERENCES projects (id),
  account_id TEXT NOT NULL,                              -- the connected account it lives on
  kind TEXT NOT NULL CHECK (kind IN ('subscription', 'payment')),
  end_user_id TEXT REFERENCES end_users (id),
  tier_id TEXT REFERENCES tiers (id),
  order_id TEXT REFERENCES orders (id),
  status TEXT NOT NULL CHECK (status IN ('open', 'awaiting_payment', 'complete', 'failed', 'expired')),
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
INSERT INTO checkout_sessions_next (id, project_id, account_id, kind, end_user_id, tier_id, order_id, status, expires_at, created_at, updated_at)
  SELECT id, project_id, account_id, kind, end_user_id, tier_id, order_id, status, expires_at, created_at, updated_at FROM checkout_sessions;
DROP TABLE checkout_sessions;
ALTER TABLE checkout_sessions_next RENAME TO checkout_sessions;
CREATE INDEX checkout_sessions_by_project ON checkout_sessions (project_id, created_at);
CREATE TRIGGER checkout_sessions_complete_once
BEFORE UPDATE OF status ON checkout_sessions
WHEN OLD.status = 'complete' AND NEW.status = 'complete'
BEGIN
  SELECT RAISE(ABORT, 'checkout session already complete');
END;
