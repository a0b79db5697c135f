-- One body of SQL for both databases (issue 22): every table takes SQLite's
-- portable types. Times become unix milliseconds (BIGINT), days days since
-- the Unix epoch, digests hex text, and client addresses text as host()
-- wrote them. Each column is converted in
-- place, every row kept and reading as it did: the values are the ones the
-- API returned before, `(EXTRACT(EPOCH FROM t) * 1000)::int8`.

ALTER TABLE accounts
    ALTER COLUMN created_at TYPE BIGINT USING (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT;

ALTER TABLE users
    ALTER COLUMN created_at TYPE BIGINT USING (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT,
    ALTER COLUMN last_signed_in_at TYPE BIGINT
        USING (EXTRACT(EPOCH FROM last_signed_in_at) * 1000)::BIGINT;

ALTER TABLE memberships
    ALTER COLUMN joined_at TYPE BIGINT USING (EXTRACT(EPOCH FROM joined_at) * 1000)::BIGINT;

ALTER TABLE invitations
    ALTER COLUMN token_digest TYPE TEXT USING encode(token_digest, 'hex'),
    ALTER COLUMN created_at TYPE BIGINT USING (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT,
    ALTER COLUMN expires_at TYPE BIGINT USING (EXTRACT(EPOCH FROM expires_at) * 1000)::BIGINT,
    ALTER COLUMN accepted_at TYPE BIGINT USING (EXTRACT(EPOCH FROM accepted_at) * 1000)::BIGINT,
    ALTER COLUMN revoked_at TYPE BIGINT USING (EXTRACT(EPOCH FROM revoked_at) * 1000)::BIGINT;

ALTER TABLE audit_events
    ALTER COLUMN occurred_at TYPE BIGINT USING (EXTRACT(EPOCH FROM occurred_at) * 1000)::BIGINT,
    ALTER COLUMN client_ip TYPE TEXT USING host(client_ip);

ALTER TABLE idempotency_records
    ALTER COLUMN created_at TYPE BIGINT USING (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT;

ALTER TABLE throttle_hits
    ALTER COLUMN hit_at TYPE BIGINT USING (EXTRACT(EPOCH FROM hit_at) * 1000)::BIGINT;

ALTER TABLE api_keys
    ALTER COLUMN secret_digest TYPE TEXT USING encode(secret_digest, 'hex'),
    ALTER COLUMN previous_digest TYPE TEXT USING encode(previous_digest, 'hex'),
    ALTER COLUMN previous_expires_at TYPE BIGINT
        USING (EXTRACT(EPOCH FROM previous_expires_at) * 1000)::BIGINT,
    ALTER COLUMN created_at TYPE BIGINT USING (EXTRACT(EPOCH FROM created_at) * 1000)::BIGINT,
    ALTER COLUMN updated_at TYPE BIGINT USING (EXTRACT(EPOCH FROM updated_at) * 1000)::BIGINT,
    ALTER COLUMN expires_at TYPE BIGINT USING (EXTRACT(EPOCH FROM expires_at) * 1000)::BIGINT,
    ALTER COLUMN revoked_at TYPE BIGINT USING (EXTRACT(EPOCH FROM revoked_at) * 1000)::BIGINT,
    ALTER COLUMN last_used_at TYPE BIGINT USING (EXTRACT(EPOCH FROM last_used_at) * 1000)::BIGINT,
    ALTER COLUMN last_used_ip TYPE TEXT USING host(last_used_ip);

-- A day is counted from the Unix epoch, as on SQLite.
ALTER TABLE key_usage_daily
    ALTER COLUMN day TYPE BIGINT USING (day - DATE '1970-01-01');
