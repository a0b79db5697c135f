-- Credits verify spent per key and UTC day, for the key page's chart;
-- written in the same batches as the other counts.
ALTER TABLE key_usage_daily ADD COLUMN credits_spent BIGINT NOT NULL DEFAULT 0;
