INSERT INTO ops.stream_gates AS g
    (exchange, symbol, timeframe, checkpoint, status, run_id, reason, quarantined, warnings, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (exchange, symbol, timeframe, checkpoint) DO UPDATE
SET status = excluded.status, run_id = excluded.run_id, reason = excluded.reason,
    quarantined = excluded.quarantined, warnings = excluded.warnings,
    updated_at = excluded.updated_at
