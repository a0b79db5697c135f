-- Refused verifications of a known key per UTC day, beside the successful
-- ones (`requests`), for the key's usage chart. Written in the same
-- batches as `requests`.
ALTER TABLE key_usage_daily
    ADD COLUMN revoked BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN expired BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN insufficient_scope BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN ip_not_allowed BIGINT NOT NULL DEFAULT 0;
