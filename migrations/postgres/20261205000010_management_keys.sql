-- Keys of two kinds: `api` keys, which the platform's services accept and
-- which never manage keys, and `management` keys, which manage keys with
-- Keysmith's own permissions. Every key made before is an API key.
ALTER TABLE api_keys ADD COLUMN key_type TEXT NOT NULL DEFAULT 'api';
