INSERT INTO ops.breaker_state AS b
    (exchange, state, consecutive_failures, open_count, opened_at, cooldown_s, last_error, updated_at)
VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7, $8)
ON CONFLICT (exchange) DO UPDATE
SET state = excluded.state, consecutive_failures = excluded.consecutive_failures,
    open_count = excluded.open_count, opened_at = excluded.opened_at,
    cooldown_s = excluded.cooldown_s, last_error = excluded.last_error,
    updated_at = excluded.updated_at
