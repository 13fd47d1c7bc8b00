-- Where checkout and billing-portal pages may send buyers back to: a JSON array of origins
-- (`https://shop.example`). Success, cancel and return URLs outside it are refused, so a
-- checkout can never become an open redirect.
ALTER TABLE projects ADD COLUMN redirect_origins TEXT NOT NULL DEFAULT '[]';
