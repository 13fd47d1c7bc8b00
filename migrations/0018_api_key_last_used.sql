-- When a secret key was last seen authenticating a request, to the nearest few minutes: the
-- keys page shows it so a developer can tell a key still in use from one safe to revoke.
-- Written by key authentication at most once per key, isolate and LAST_USED_RESOLUTION_MS,
-- and only forward (a late write never moves it back). NULL: never used since this column.
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
