-- Responses kept for Idempotency-Key replays (24 hours). The key itself is
-- not stored, only its SHA-256; the response is encrypted under a key
-- derived from the Idempotency-Key value, which only the client holds.
CREATE TABLE idempotency_records (
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_digest    TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- NULL while the first request is still running.
    status        INTEGER,
    sealed_body   BLOB,
    PRIMARY KEY (account_id, key_digest)
);
CREATE INDEX idempotency_records_created_at ON idempotency_records (created_at);
