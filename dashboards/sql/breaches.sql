SELECT * FROM risk.breaches ORDER BY breached_at DESC LIMIT 200
