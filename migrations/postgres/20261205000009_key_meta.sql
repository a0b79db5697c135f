-- What a platform keeps on a key for itself: its own id for whom the key
-- belongs to (exact match, listed by account and id as pages are read),
-- and a JSON object (compact text, at most 4 KB) verify hands back.
ALTER TABLE api_keys ADD COLUMN external_id TEXT;
ALTER TABLE api_keys ADD COLUMN meta TEXT;
CREATE INDEX api_keys_external_id ON api_keys (account_id, external_id, id);
