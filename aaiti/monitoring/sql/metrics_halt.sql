-- Halt state per account (manual halt, kill switch or the order-failure breaker).
SELECT account,
       (coalesce(state->>'$.manual_halt' = 'true', false)
        OR coalesce(state->>'$.kill_switch' = 'true', false)
        OR coalesce(state->>'$.breaker_open' = 'true', false))::INTEGER AS halted
FROM risk.state ORDER BY ALL
