-- Units counted per end user and UTC day, for the console's daily history of one customer
-- (usage_days is per project; usage_counters per period, which cannot say which day a unit
-- fell on). `day` is the UTC midnight (ms) of the counter's `updated_at`, which the metered
-- call sets to the time it counted.
--
-- Kept by triggers on usage_counters rather than by the metered call, so the call's batch
-- (and the worker that runs it) stays as it is and no writer of a counter can forget the
-- day: a counter that is inserted, or whose count grows, adds the difference to its day.
-- Triggers never change what `changes()` reports to the statement after the counter's
-- upsert, which the metered call's own day tally relies on. History starts with this
-- migration: the counters already stored cannot be split into days.
CREATE TABLE end_user_usage_days (
  project_id TEXT NOT NULL REFERENCES projects (id),
  end_user_id TEXT NOT NULL REFERENCES end_users (id),
  day INTEGER NOT NULL,
  count INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
  PRIMARY KEY (project_id, end_user_id, day)
) WITHOUT ROWID;

CREATE TRIGGER end_user_usage_days_on_insert
AFTER INSERT ON usage_counters
WHEN NEW.count > 0
BEGIN
  INSERT INTO end_user_usage_days (project_id, end_user_id, day, count)
  VALUES (NEW.project_id, NEW.end_user_id, NEW.updated_at - NEW.updated_at % 86400000, NEW.count)
  ON CONFLICT (project_id, end_user_id, day) DO UPDATE SET count = end_user_usage_days.count + excluded.count;
END;

CREATE TRIGGER end_user_usage_days_on_count
AFTER UPDATE OF count ON usage_counters
WHEN NEW.count > OLD.count
BEGIN
  INSERT INTO end_user_usage_days (project_id, end_user_id, day, count)
  VALUES (NEW.project_id, NEW.end_user_id, NEW.updated_at - NEW.updated_at % 86400000, NEW.count - OLD.count)
  ON CONFLICT (project_id, end_user_id, day) DO UPDATE SET count = end_user_usage_days.count + excluded.count;
END;

-- A deleted end user's usage goes (their counters are deleted in the same batch): their
-- days go with it, whichever lane deleted them.
CREATE TRIGGER end_user_usage_days_on_delete
AFTER UPDATE OF deleted_at ON end_users
WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
BEGIN
  DELETE FROM end_user_usage_days WHERE project_id = NEW.project_id AND end_user_id = NEW.id;
END;
