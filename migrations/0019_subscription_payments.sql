-- Money subscriptions brought in, for the dashboard's revenue series beside store orders: one
-- row per paid subscription invoice (`in_…`, what it took) and one per refunded charge of a
-- subscription (`ch_…`, the amount refunded so far: Stripe reports it cumulatively, and an
-- event applied late never lowers it). Recent Stripe API versions name no invoice on a charge,
-- so a refund is its own row, dated by the charge it refunds: it nets the payment on the day
-- the money came in, as a store order's refund nets the order on its day of payment.
-- `paid_at` is ms. History starts with this migration: invoices paid before it are not here,
-- and a refund of one nets nothing (a day's subscription revenue never goes below zero).
CREATE TABLE subscription_payments (
  id TEXT PRIMARY KEY,                                   -- in_… or ch_…
  project_id TEXT NOT NULL REFERENCES projects (id),
  stripe_subscription_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
  amount INTEGER NOT NULL CHECK (amount >= 0),
  currency TEXT NOT NULL,
  paid_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX subscription_payments_by_day ON subscription_payments (project_id, paid_at);
