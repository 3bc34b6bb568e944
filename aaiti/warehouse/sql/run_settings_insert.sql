INSERT INTO audit.run_settings VALUES ($1, $2, $3, $4, $5)
