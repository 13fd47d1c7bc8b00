-- The project's units per UTC day (usage_days, 0008) are kept from here on by triggers on
-- usage_counters, as the per-customer and per-period days are (0017, 0020). Counting moved
-- into each end user's metering object, which writes the ledger by flushing absolute
-- counter totals (one per day it counted on) rather than running a statement per call, so
-- the day tally can no longer ride in the call's batch. A counter that is inserted, or whose
-- count grows, adds the growth to the day of its `updated_at` (the time the units were
-- counted). A flush retried after it committed leaves every count as it is, so nothing is
-- added twice.
CREATE TRIGGER usage_days_on_insert
AFTER INSERT ON usage_counters
WHEN NEW.count > 0
BEGIN
  INSERT INTO usage_days (project_id, day, count)
  VALUES (NEW.project_id, NEW.updated_at - NEW.updated_at % 86400000, NEW.count)
  ON CONFLICT (project_id, day) DO UPDATE SET count = usage_days.count + excluded.count;
END;

CREATE TRIGGER usage_days_on_count
AFTER UPDATE OF count ON usage_counters
WHEN NEW.count > OLD.count
BEGIN
  INSERT INTO usage_days (project_id, day, count)
  VALUES (NEW.project_id, NEW.updated_at - NEW.updated_at % 86400000, NEW.count - OLD.count)
  ON CONFLICT (project_id, day) DO UPDATE SET count = usage_days.count + excluded.count;
END;
