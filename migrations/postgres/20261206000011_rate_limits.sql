-- Rate limits: up to five named limits per key and per account (shared by
-- all its keys), each `{"name", "limit", "window_seconds"}`, kept as a JSON
-- array the service parses once as a key enters the verification cache.
ALTER TABLE api_keys ADD COLUMN ratelimits TEXT NOT NULL DEFAULT '[]';
ALTER TABLE accounts ADD COLUMN ratelimits TEXT NOT NULL DEFAULT '[]';

-- Each limit's current window and how much of it has been handed out.
-- A window begins with the first verification after the last one ended,
-- and lasts window_ms. Replicas lease parts of the limit (`granted` grows
-- by each `last_given`) and admit from their lease in memory, so the sum
-- admitted in a window never exceeds what was granted, and granted never
-- exceeds the limit. `subject` is a key's id or an account's.
CREATE TABLE ratelimit_windows (
    subject     TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    window_ms   BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    granted     BIGINT NOT NULL,
    last_given  BIGINT NOT NULL,
    PRIMARY KEY (subject, name)
);

-- Verifications refused by a rate limit, or for want of credits, per key
-- and UTC day, beside the other outcomes.
ALTER TABLE key_usage_daily
    ADD COLUMN rate_limited BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN usage_exceeded BIGINT NOT NULL DEFAULT 0;
