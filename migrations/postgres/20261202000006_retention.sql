-- Audit events are kept for KEYSMITH_AUDIT_RETENTION_DAYS and swept once a
-- day: the sweep finds the old ones by time.
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
