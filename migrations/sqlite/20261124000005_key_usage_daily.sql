-- Successful verifications of each key per UTC day (day = days since
-- 1970-01-01), written in batches by the usage tracker. Kept when a key is
-- revoked; removed with the key.
CREATE TABLE key_usage_daily (
    key_id      TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day         INTEGER NOT NULL,
    requests    INTEGER NOT NULL,
    PRIMARY KEY (key_id, day)
) WITHOUT ROWID;
CREATE INDEX key_usage_daily_account_day ON key_usage_daily (account_id, day);
