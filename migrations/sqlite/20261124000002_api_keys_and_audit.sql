-- API keys. The key itself is never stored: only a SHA-256 digest of it
-- (for look-up) and what may be displayed (the prefix and last four).
CREATE TABLE api_keys (
    id                   TEXT PRIMARY KEY,     -- key_ + UUIDv7: time-ordered, so it pages newest first
    account_id           TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    secret_digest        TEXT NOT NULL UNIQUE,
    key_prefix           TEXT NOT NULL,
    last_four            TEXT NOT NULL,
    -- After a rotation with a grace period, the replaced secret keeps
    -- working until previous_expires_at.
    previous_digest      TEXT UNIQUE,
    previous_expires_at  BIGINT,
    scopes               TEXT NOT NULL,        -- space-separated scope names
    ip_allowlist         TEXT NOT NULL,        -- space-separated addresses/CIDR ranges; empty = any
    created_at           BIGINT NOT NULL,
    created_by           TEXT,
    updated_at           BIGINT NOT NULL,
    updated_by           TEXT,
    expires_at           BIGINT,
    revoked_at           BIGINT,
    revoked_by           TEXT,
    last_used_at         BIGINT,
    last_used_ip         TEXT
);
-- Listing is always within one account, newest first, paged by id.
CREATE INDEX api_keys_account_id ON api_keys (account_id, id);

-- What happened, by whom, from where. Never a secret. Events outlive the keys
-- they name, so key_id is not a foreign key and the name is kept as it was.
CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,            -- evt_ + UUIDv7
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    key_id       TEXT,
    key_name     TEXT,
    occurred_at  BIGINT NOT NULL,
    client_ip    TEXT,
    user_agent   TEXT
);
CREATE INDEX audit_events_account_id ON audit_events (account_id, id);
CREATE INDEX audit_events_account_key ON audit_events (account_id, key_id, id);
