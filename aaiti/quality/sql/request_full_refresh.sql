INSERT INTO ops.transform_requests (requested_at, reason) VALUES ($1, $2)
