-- Settings Tollgate keeps about itself, such as the Stripe price of the developer plan on
-- the operator's own account (made once, on first need). One row per name.
CREATE TABLE operator_settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
