-- An alert that was sent while the outbox was out of reach, recorded afterwards (delivered:
-- its channels' outcomes are recorded with it).
INSERT INTO ops.alerts (alert_id, raised_at, source, severity, dedup_key, message, claimed_at)
VALUES ($1, $2, $3, $4, $5, $6, $2)
