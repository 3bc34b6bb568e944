-- Feature rows of the streams whose raw and feature gates are not blocked, one timeframe,
-- with the bar's open, high, low and volume (the strategy evaluation fills within the bar);
-- $3 (NULL: all) keeps each stream's newest that many rows. The cut is found on the keys
-- alone: ranked with every column, 500 streams × 30 days of 1m took 14.8 GB to keep 1,440.
WITH ranked AS (
    SELECT exchange, symbol, ts,
        row_number() OVER (PARTITION BY exchange, symbol ORDER BY ts DESC) AS newest_first
    FROM marts.fct_features
    WHERE $3 IS NOT NULL AND timeframe = $1 AND list_contains($2, symbol)
),
cut AS (
    SELECT exchange, symbol, min(ts) AS since FROM ranked WHERE newest_first <= $3
    GROUP BY exchange, symbol
)
SELECT f.*, c.open, c.high, c.low, c.volume
FROM marts.fct_features AS f
JOIN marts.fct_candles AS c USING (exchange, symbol, timeframe, ts)
LEFT JOIN cut USING (exchange, symbol)
WHERE f.timeframe = $1
  AND list_contains($2, f.symbol)
  AND NOT ops.stream_blocked(f.exchange, f.symbol, f.timeframe)
  AND ($3 IS NULL OR f.ts >= cut.since)
ORDER BY f.exchange, f.symbol, f.ts
