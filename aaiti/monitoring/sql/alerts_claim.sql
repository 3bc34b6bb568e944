-- Claim every alert not yet handed to delivery; returns what was claimed.
UPDATE ops.alerts SET claimed_at = $1
WHERE claimed_at IS NULL
RETURNING alert_id, raised_at, source, severity, dedup_key, message
