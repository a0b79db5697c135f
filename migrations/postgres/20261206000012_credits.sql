-- Usage credits: what remains of a key's credits outside the leases
-- servers hold (NULL: the key keeps no credits), its refill (JSON: amount,
-- interval, day_of_month), when the next refill comes, and which refill
-- period the credits belong to (each refill begins a new one, voiding the
-- leases of the one before). Credits a killed server held are counted in
-- credits_lost, never handed out again.
ALTER TABLE api_keys
    ADD COLUMN credits_remaining BIGINT,
    ADD COLUMN credits_refill TEXT,
    ADD COLUMN credits_refill_at BIGINT,
    ADD COLUMN credits_period BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN credits_lost BIGINT NOT NULL DEFAULT 0;

-- The credits each server holds of a key, as it last reported them (about
-- once a second). A lease not reported for a while belongs to a server
-- that stopped: its credits are counted lost (it may have spent them).
CREATE TABLE credit_leases (
    key_id       TEXT COLLATE "C" NOT NULL,
    holder       TEXT COLLATE "C" NOT NULL,
    period       BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    reported_at  BIGINT NOT NULL,
    PRIMARY KEY (key_id, holder)
);

-- What verify answered a key's request_id, for 24 hours: a retry (on any
-- server) is answered the same and spends nothing again.
CREATE TABLE verify_requests (
    key_id      TEXT COLLATE "C" NOT NULL,
    request_id  TEXT COLLATE "C" NOT NULL,
    answer      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (key_id, request_id)
);
CREATE INDEX verify_requests_by_age ON verify_requests (created_at);
