-- Claim every alert not yet delivered whose claim is absent or older than the lease (a
-- delivery that crashed); returns what was claimed.
UPDATE ops.alerts SET claimed_at = $1
WHERE delivered_at IS NULL AND (claimed_at IS NULL OR claimed_at < $2)
RETURNING alert_id, raised_at, source, severity, dedup_key, message
