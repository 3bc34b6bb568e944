INSERT INTO ops.gap_checks AS g
    (exchange, symbol, timeframe, gap_start, gap_end, missing, filled, checked_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (exchange, symbol, timeframe, gap_start) DO UPDATE
SET gap_end = excluded.gap_end, missing = excluded.missing, filled = excluded.filled,
    checked_at = excluded.checked_at
