INSERT INTO ops.alerts (raised_at, source, severity, dedup_key, message) VALUES ($1, $2, $3, $4, $5)
