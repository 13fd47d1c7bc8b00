-- A checkout session's completion is applied once, whichever path comes first: the
-- `checkout.session.completed` webhook or a reconcile (POST /api/checkout/{id}/reconcile).
-- Both complete the session in the same D1 batch as the order, entitlements, subscription
-- and outbound events; completing a session that is already complete aborts that whole
-- batch, so two applications racing each other can never both write their effects.
CREATE TRIGGER checkout_sessions_complete_once
BEFORE UPDATE OF status ON checkout_sessions
WHEN OLD.status = 'complete' AND NEW.status = 'complete'
BEGIN
  SELECT RAISE(ABORT, 'checkout session already complete');
END;
