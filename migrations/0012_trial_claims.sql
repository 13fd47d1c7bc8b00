-- A free trial is offered once per end user and project, not on every checkout. The claim
-- is taken (atomically, on the primary key) before the subscription session is opened, and
-- names that session once it exists. A claim whose session expired or failed unpaid, or
-- whose request died before naming a session (five minutes), may be taken again; any other
-- claim means the end user had their trial, and later checkouts offer none.
CREATE TABLE trial_claims (
  project_id TEXT NOT NULL REFERENCES projects (id),
  end_user_id TEXT NOT NULL REFERENCES end_users (id),
  session_id TEXT,                                       -- cs_… (NULL while being opened; sub_… for claims from before this table)
  claimed_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, end_user_id)
);

-- End users who already hold or held a trialing subscription had their trial.
INSERT OR IGNORE INTO trial_claims (project_id, end_user_id, session_id, claimed_at)
  SELECT project_id, end_user_id, stripe_subscription_id, created_at FROM subscriptions WHERE status = 'trialing';
