-- Teams: keys belong to the account, people join it with a role. A user may
-- be a member of several accounts, so the user row no longer names one; the
-- membership does. Each user's sign-up account becomes their owner
-- membership ('member', never written, would have been a developer).

CREATE TABLE users_new (
    id                 TEXT PRIMARY KEY,
    email              TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    token_generation   BIGINT NOT NULL DEFAULT 0,
    last_signed_in_at  BIGINT
);
INSERT INTO users_new (id, email, password_hash, created_at, token_generation)
    SELECT id, email, password_hash, created_at, token_generation FROM users;
CREATE TABLE sign_up_accounts AS SELECT id, account_id, role, created_at FROM users;
-- Nothing refers to users by foreign key yet, so the old table can go.
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

CREATE TABLE memberships (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    joined_at   BIGINT NOT NULL,
    -- Moved on when the role changes: the member's sessions and bearer
    -- tokens for this account end (removal deletes the row, which ends them
    -- too).
    generation  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, user_id)
);
-- A user's accounts, in the order they joined them (the first is where
-- they land after signing in).
CREATE INDEX memberships_user ON memberships (user_id, joined_at);
INSERT INTO memberships (account_id, user_id, role, joined_at)
    SELECT account_id, id, CASE role WHEN 'owner' THEN 'owner' ELSE 'developer' END, created_at
    FROM sign_up_accounts;
DROP TABLE sign_up_accounts;

-- Invitations to join an account. The link's token is never stored: only
-- its SHA-256 digest (hex), for look-up.
CREATE TABLE invitations (
    id            TEXT PRIMARY KEY,     -- inv_ + UUIDv7
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    token_digest  TEXT NOT NULL UNIQUE,
    invited_by    TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    accepted_at   BIGINT,
    accepted_by   TEXT,
    revoked_at    BIGINT,
    revoked_by    TEXT
);
CREATE INDEX invitations_account ON invitations (account_id, id);

-- Membership events name the member (by email, as it was) and what changed
-- (the role, or "developer → viewer").
ALTER TABLE audit_events ADD COLUMN member_email TEXT;
ALTER TABLE audit_events ADD COLUMN detail TEXT;
