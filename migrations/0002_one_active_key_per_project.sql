-- At most one active secret key per project. A rotation retires the active key and inserts
-- its successor in one batch; if two rotations race, the loser's insert violates this index
-- and its whole batch rolls back, so a project never ends up with two active keys.
CREATE UNIQUE INDEX api_keys_one_active ON api_keys (project_id) WHERE status = 'active';
