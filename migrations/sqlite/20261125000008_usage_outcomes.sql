-- Refused verifications of a known key per UTC day, beside the successful
-- ones (`requests`), for the key's usage chart. Written in the same
-- batches as `requests`.
ALTER TABLE key_usage_daily ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage_daily ADD COLUMN expired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage_daily ADD COLUMN insufficient_scope INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage_daily ADD COLUMN ip_not_allowed INTEGER NOT NULL DEFAULT 0;
