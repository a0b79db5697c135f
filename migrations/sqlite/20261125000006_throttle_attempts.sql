-- Throttling counts an attempt before its password is checked, not after:
-- counted afterwards, forty guesses sent at the same moment all passed a
-- limit of five. Each row is one attempt against one subject (a SHA-256
-- digest of an email, a client address or /64, or an email and address
-- together; never personal data in clear). A sign-in's rows are deleted when
-- its password proves right, so only failures (and attempts still being
-- checked) remain. Sign-ups are counted here too, per address.
--
-- The old table held only failures of the last 15 minutes; starting afresh
-- forgets at most that.
DROP TABLE login_failures;

CREATE TABLE throttle_hits (
    subject    TEXT NOT NULL,
    hit_at     BIGINT NOT NULL,
    -- The attempt this row belongs to, so a success can take back its own
    -- rows and no one else's.
    attempt_id TEXT NOT NULL
);
CREATE INDEX throttle_hits_subject_time ON throttle_hits (subject, hit_at);
CREATE INDEX throttle_hits_attempt ON throttle_hits (attempt_id);
