-- Issue 25: a key about to expire is mailed to its account's owners and
-- admins and to whoever made it, a week before and a day before, once each
-- (when mail is on). When each warning went; a replica marks a key before
-- its messages are queued, in one transaction, so no key is warned twice.
ALTER TABLE api_keys ADD COLUMN expiry_warned_week_at INTEGER;
ALTER TABLE api_keys ADD COLUMN expiry_warned_day_at INTEGER;
