-- Units counted per project and UTC day, for the dashboard's daily usage series
-- (usage_counters are per end user and period, so they cannot say which day a unit fell on).
-- The metered call adds to it in the same batch as its counter upsert, and only when that
-- upsert counted: a refused call at the limit adds nothing. `day` is the UTC midnight (ms).
CREATE TABLE usage_days (
  project_id TEXT NOT NULL REFERENCES projects (id),
  day INTEGER NOT NULL,
  count INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
  PRIMARY KEY (project_id, day)
) WITHOUT ROWID;

-- The dashboard reads each end user's current counter: those whose period has not ended.
-- Only inserts touch it (an increment changes `count`, not `period_end`).
CREATE INDEX usage_counters_by_period_end ON usage_counters (project_id, period_end);
