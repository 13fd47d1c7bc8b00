-- Downloads for subscribers: a tier may name a private asset that an active or trialing
-- subscription to it entitles the subscriber to download (products already carry
-- `asset_id` for buyers). Both columns are looked up when an asset is deleted — an asset a
-- product or tier still delivers cannot be deleted — so each gets a partial index.
ALTER TABLE tiers ADD COLUMN asset_id TEXT REFERENCES assets (id);
CREATE INDEX tiers_by_asset ON tiers (asset_id) WHERE asset_id IS NOT NULL;
CREATE INDEX products_by_asset ON products (asset_id) WHERE asset_id IS NOT NULL;
-- A project's live assets, newest first (the asset list skips deleted ones).
CREATE INDEX assets_live_by_project ON assets (project_id, created_at DESC) WHERE deleted_at IS NULL;
-- An end user's subscriptions to one tier (the download check for subscribers).
CREATE INDEX subscriptions_by_tier ON subscriptions (project_id, end_user_id, tier_id);
