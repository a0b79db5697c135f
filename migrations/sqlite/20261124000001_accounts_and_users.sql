-- Accounts are workspaces: every key and audit event will belong to one.
-- Times are unix milliseconds and ids are prefixed text, so the same schema
-- ports to PostgreSQL unchanged.
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A user signs in with email and password; the sign-up that creates an
-- account makes its user the owner.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    created_at     BIGINT NOT NULL
);
CREATE INDEX users_account_id ON users (account_id);

-- Failed sign-ins, for throttling. `subject` is a SHA-256 digest of the email
-- or client address tried, so this table holds no personal data in clear.
CREATE TABLE login_failures (
    subject    TEXT NOT NULL,
    failed_at  BIGINT NOT NULL
);
CREATE INDEX login_failures_subject_time ON login_failures (subject, failed_at);
