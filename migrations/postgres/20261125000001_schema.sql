-- Keysmith's schema on PostgreSQL: the same tables as on SQLite (see
-- migrations/sqlite/ for the history and the why of each), in PostgreSQL's
-- own types: times are timestamptz, digests bytea, addresses inet, days
-- date. Ids are prefixed UUIDv7 text compared byte by byte (COLLATE "C"),
-- so they sort by creation time whatever the database's locale.

CREATE TABLE accounts (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id                TEXT COLLATE "C" PRIMARY KEY,
    account_id        TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email             TEXT NOT NULL UNIQUE,
    password_hash     TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    created_at        TIMESTAMPTZ NOT NULL,
    -- Moved on by signing out everywhere and by a new password: sessions
    -- and bearer tokens of an older generation end.
    token_generation  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX users_account_id ON users (account_id);

-- The key itself is never stored: only the SHA-256 of it (for look-up) and
-- what may be displayed (the prefix and last four).
CREATE TABLE api_keys (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    account_id           TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    secret_digest        BYTEA NOT NULL UNIQUE,
    key_prefix           TEXT NOT NULL,
    last_four            TEXT NOT NULL,
    previous_digest      BYTEA UNIQUE,
    previous_expires_at  TIMESTAMPTZ,
    scopes               TEXT NOT NULL,
    ip_allowlist         TEXT NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    created_by           TEXT,
    updated_at           TIMESTAMPTZ NOT NULL,
    updated_by           TEXT,
    expires_at           TIMESTAMPTZ,
    revoked_at           TIMESTAMPTZ,
    revoked_by           TEXT,
    last_used_at         TIMESTAMPTZ,
    last_used_ip         INET
);
CREATE INDEX api_keys_account_id ON api_keys (account_id, id);

CREATE TABLE audit_events (
    id           TEXT COLLATE "C" PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    key_id       TEXT COLLATE "C",
    key_name     TEXT,
    occurred_at  TIMESTAMPTZ NOT NULL,
    client_ip    INET,
    user_agent   TEXT
);
CREATE INDEX audit_events_account_id ON audit_events (account_id, id);
CREATE INDEX audit_events_account_key ON audit_events (account_id, key_id, id);

CREATE TABLE idempotency_records (
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_digest    TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    status        BIGINT,
    sealed_body   BYTEA,
    PRIMARY KEY (account_id, key_digest)
);
CREATE INDEX idempotency_records_created_at ON idempotency_records (created_at);

CREATE TABLE key_usage_daily (
    key_id      TEXT COLLATE "C" NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    account_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day         DATE NOT NULL,
    requests    BIGINT NOT NULL,
    PRIMARY KEY (key_id, day)
);
CREATE INDEX key_usage_daily_account_day ON key_usage_daily (account_id, day);

CREATE TABLE throttle_hits (
    subject     TEXT NOT NULL,
    hit_at      TIMESTAMPTZ NOT NULL,
    attempt_id  TEXT NOT NULL
);
CREATE INDEX throttle_hits_subject_time ON throttle_hits (subject, hit_at);
CREATE INDEX throttle_hits_attempt ON throttle_hits (attempt_id);
