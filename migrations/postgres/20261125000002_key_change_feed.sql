-- Every change to a key (edit, rotation, revocation, deletion) is numbered
-- here, in the transaction that makes it, and announced on the channel
-- keysmith_key_changes as "sequence:digest,digest,…" (NOTIFY is delivered
-- at commit). Taking the next number locks this one row until commit, so
-- the numbers follow the commits: a process that sees a number skipped has
-- missed a change, and stops trusting its verification cache.
CREATE TABLE key_change_feed (
    only_row  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    sequence  BIGINT NOT NULL
);
INSERT INTO key_change_feed (sequence) VALUES (0);
