-- Issue 25: email that is never lost, and the one-time links it carries.

-- Mail waiting to be sent, written in the same transaction as the change
-- that causes it. A sender claims a row for a while (claimed_by,
-- claimed_until), so one sender at a time works on it on any replica. The
-- body's fields are sealed (AES-GCM under a key derived from the server's
-- secret) and forgotten once the message is handed over or given up.
-- state: queued → handed_over (just before the final dot: the SMTP
-- server's commit point; never sent again) → sent (the server said 250),
-- or failed (refused, or no luck for a day).
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    sealed_body     TEXT,
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'handed_over', 'sent', 'failed')),
    created_at      INTEGER NOT NULL,
    send_after      INTEGER NOT NULL,
    give_up_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    claimed_by      TEXT,
    claimed_until   INTEGER,
    finished_at     INTEGER
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, send_after);
CREATE INDEX mail_outbox_finished ON mail_outbox (finished_at);

-- One-time links mailed to a user (password resets, address checks): only
-- the token's digest is kept; a link works once, until it expires.
CREATE TABLE user_links (
    digest      TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('password_reset', 'verify_email')),
    -- The address an address check is for: a link to an address the user
    -- has since changed verifies nothing.
    email       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX user_links_user ON user_links (user_id, purpose);
CREATE INDEX user_links_expiry ON user_links (expires_at);

-- When the user proved they read mail at their address. Users from before
-- were vouched for by the operator or the sign-up of their time.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
UPDATE users SET email_verified_at = created_at;
