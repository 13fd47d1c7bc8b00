-- Refunds and disputes take access back. An order keeps what Stripe refunded (cumulative,
-- minor units: the dashboard nets it out of revenue), the charge that paid it, and the state
-- of a dispute on that charge with the time of the dispute event applied last (so a late
-- `charge.dispute.created` never reopens a dispute already closed).
--
-- entitlements.revoked_by says who took an entitlement back: a developer's revoke, a full
-- refund, or an open dispute. Only what a dispute revoked comes back when the dispute is won.
ALTER TABLE orders ADD COLUMN amount_refunded INTEGER NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0);
ALTER TABLE orders ADD COLUMN stripe_charge_id TEXT;
ALTER TABLE orders ADD COLUMN dispute_status TEXT CHECK (dispute_status IN ('open', 'won', 'lost'));
ALTER TABLE orders ADD COLUMN dispute_event_at INTEGER;
CREATE INDEX orders_by_payment_intent ON orders (stripe_payment_intent_id);
ALTER TABLE entitlements ADD COLUMN revoked_by TEXT CHECK (revoked_by IN ('developer', 'refund', 'dispute'));
UPDATE entitlements SET revoked_by = 'developer' WHERE status = 'revoked';
