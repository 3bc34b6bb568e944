SELECT state, consecutive_failures, open_count, epoch(opened_at), cooldown_s, last_error
FROM ops.breaker_state WHERE exchange = $1
