-- Deliveries that count for dedup and the rate limit.
SELECT channel, dedup_key, handled_at FROM monitoring.alerts
WHERE status = 'sent' AND handled_at >= $1
