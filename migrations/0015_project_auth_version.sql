-- A project's key-lookup version. Every change to what a key lookup answers for the project
-- (a key revoked or rotated, the project deleted, its end-user issuer or its platform's
-- billing changed) bumps it, and a lookup written back to the key cache stays there only if
-- the version it read is still current after the write: a revoke that commits while a lookup
-- is in flight can never be undone by that lookup's write-back.
ALTER TABLE projects ADD COLUMN auth_version INTEGER NOT NULL DEFAULT 0;
