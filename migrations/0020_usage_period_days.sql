-- Units per end user, period and UTC day: which period each day's units were counted into.
-- A day can hold units of two periods — the day a subscription starts (the free calendar
-- month's units before it, the new paid period's after) or renews — so a day's total cannot
-- say how much of it the current period holds. With this, the daily series of the dashboard
-- and of a customer show beside each day's units the part counted into the period each end
-- user is in now: the part `usage.total` and GET /api/usage count.
--
-- Kept by triggers on usage_counters, as end_user_usage_days is (0017) and for the same
-- reasons (the metered call's batch stays as it is; triggers leave `changes()` alone). The
-- counter's `period_start` names the period; `day` is the UTC midnight (ms) of its
-- `updated_at`, the time the call counted. History starts with this migration.
CREATE TABLE usage_period_days (
  project_id TEXT NOT NULL REFERENCES projects (id),
  end_user_id TEXT NOT NULL REFERENCES end_users (id),
  period_start INTEGER NOT NULL,
  day INTEGER NOT NULL,
  count INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
  PRIMARY KEY (project_id, end_user_id, period_start, day)
) WITHOUT ROWID;

CREATE TRIGGER usage_period_days_on_insert
AFTER INSERT ON usage_counters
WHEN NEW.count > 0
BEGIN
  INSERT INTO usage_period_days (project_id, end_user_id, period_start, day, count)
  VALUES (NEW.project_id, NEW.end_user_id, NEW.period_start, NEW.updated_at - NEW.updated_at % 86400000, NEW.count)
  ON CONFLICT (project_id, end_user_id, period_start, day) DO UPDATE SET count = usage_period_days.count + excluded.count;
END;

CREATE TRIGGER usage_period_days_on_count
AFTER UPDATE OF count ON usage_counters
WHEN NEW.count > OLD.count
BEGIN
  INSERT INTO usage_period_days (project_id, end_user_id, period_start, day, count)
  VALUES (NEW.project_id, NEW.end_user_id, NEW.period_start, NEW.updated_at - NEW.updated_at % 86400000, NEW.count - OLD.count)
  ON CONFLICT (project_id, end_user_id, period_start, day) DO UPDATE SET count = usage_period_days.count + excluded.count;
END;

-- A deleted end user's usage goes, whichever lane deleted them.
CREATE TRIGGER usage_period_days_on_delete
AFTER UPDATE OF deleted_at ON end_users
WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
BEGIN
  DELETE FROM usage_period_days WHERE project_id = NEW.project_id AND end_user_id = NEW.id;
END;
