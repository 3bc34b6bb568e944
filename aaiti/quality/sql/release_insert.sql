INSERT INTO ops.quality_releases VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING
