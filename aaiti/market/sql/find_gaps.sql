-- Holes inside a stream between $4 and $5: consecutive stored candles further apart than
-- one bar ($6 = bar length in ms). Returns epoch milliseconds.
WITH s AS (
    SELECT epoch_ms(ts) AS t_ms, lead(epoch_ms(ts)) OVER (ORDER BY ts) AS next_ms
    FROM raw.ohlcv
    WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts >= $4 AND ts < $5
)
SELECT t_ms + $6 AS gap_start_ms, next_ms - $6 AS gap_end_ms, (next_ms - t_ms) // $6 - 1 AS missing
FROM s
WHERE next_ms - t_ms > $6
ORDER BY t_ms
