-- Issue 25: the sessions a person can see and end, and the bearer tokens
-- issued to them. A session's row is named by a random key kept in the
-- session's own data; ending the row ends the session at its next request.
-- Ended rows stay (without effect) so a sign-in from a device the user
-- never used before can be told apart; both tables are swept daily.
CREATE TABLE user_sessions (
    id              TEXT COLLATE "C" PRIMARY KEY,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device          TEXT NOT NULL,
    client_ip       TEXT,
    signed_in_at    BIGINT NOT NULL,
    last_active_at  BIGINT NOT NULL,
    ended_at        BIGINT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id, last_active_at);

CREATE TABLE issued_tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL,
    device      TEXT NOT NULL,
    client_ip   TEXT,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX issued_tokens_user ON issued_tokens (user_id, issued_at);
