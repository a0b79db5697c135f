-- Teams: see migrations/sqlite/20261125000009_teams.sql for the why.

CREATE TABLE memberships (
    account_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    joined_at   TIMESTAMPTZ NOT NULL,
    generation  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, joined_at);
INSERT INTO memberships (account_id, user_id, role, joined_at)
    SELECT account_id, id, CASE role WHEN 'owner' THEN 'owner' ELSE 'developer' END, created_at
    FROM users;

ALTER TABLE users DROP COLUMN account_id, DROP COLUMN role,
    ADD COLUMN last_signed_in_at TIMESTAMPTZ;

CREATE TABLE invitations (
    id            TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    token_digest  BYTEA NOT NULL UNIQUE,
    invited_by    TEXT COLLATE "C",
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    accepted_at   TIMESTAMPTZ,
    accepted_by   TEXT COLLATE "C",
    revoked_at    TIMESTAMPTZ,
    revoked_by    TEXT COLLATE "C"
);
CREATE INDEX invitations_account ON invitations (account_id, id);

ALTER TABLE audit_events ADD COLUMN member_email TEXT, ADD COLUMN detail TEXT;
