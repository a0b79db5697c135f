-- Issue 25: two-factor sign-in with an authenticator app (TOTP, RFC 6238).
-- Secrets are sealed (AES-256-GCM under a key derived from the server's
-- secret, bound to the user's id). totp_pending holds the secret shown at
-- enrolment until its first code confirms it; totp_last_step is the time
-- step of the last code accepted, so no code is accepted twice.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_enabled_at INTEGER;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;

-- One-time recovery codes, by digest; each works once.
CREATE TABLE recovery_codes (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest   TEXT NOT NULL,
    used_at  INTEGER,
    PRIMARY KEY (user_id, digest)
);
