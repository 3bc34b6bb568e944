INSERT INTO risk.state AS s (account, state, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (account) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
