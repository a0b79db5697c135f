-- An idempotent answer belongs to the credential that made it (the member:
-- account and user), not to the whole account: another member sending the
-- same Idempotency-Key gets an answer of their own, never the first one's
-- secret, and the cap on live keys is counted per holder. The old records'
-- digests can never match again; their answers would expire within a day.
DELETE FROM idempotency_records;
ALTER TABLE idempotency_records ADD COLUMN holder TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX idempotency_records_holder ON idempotency_records (account_id, holder, created_at);
