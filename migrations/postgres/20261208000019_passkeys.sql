-- Issue 25: passkeys (WebAuthn), a second factor and a way to sign in
-- without a password. A passkey's row holds its public key and signature
-- counter (webauthn-rs's record, as JSON): nothing secret. The user's
-- handle is a random UUID the authenticator keeps, so a passkey names its
-- user without revealing the user's id.
ALTER TABLE users ADD COLUMN passkey_handle TEXT COLLATE "C";
CREATE UNIQUE INDEX users_passkey_handle ON users (passkey_handle);

CREATE TABLE passkeys (
    id             TEXT COLLATE "C" PRIMARY KEY,
    user_id        TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  TEXT COLLATE "C" NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    credential     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

-- A ceremony's server half between its two requests (options out, the
-- browser's answer back), by the digest of the handle the page holds; used
-- once, gone after five minutes, and capped in number (all and per
-- address), so visitors cannot fill the table.
CREATE TABLE passkey_ceremonies (
    handle_digest  TEXT COLLATE "C" PRIMARY KEY,
    user_id        TEXT COLLATE "C" REFERENCES users (id) ON DELETE CASCADE,
    client_ip      TEXT,
    state          TEXT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at);
CREATE INDEX passkey_ceremonies_ip ON passkey_ceremonies (client_ip);
