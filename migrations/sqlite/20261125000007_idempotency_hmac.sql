-- Idempotency-Keys are now stored as an HMAC under a key derived from the
-- server's secret, not as a plain SHA-256: a guessable Idempotency-Key
-- would otherwise let someone who reads the database find the key that
-- unseals a stored answer (and the secret in it). The old digests can
-- never match again; their answers would have expired within 24 hours.
DELETE FROM idempotency_records;
