-- Feature rows of the streams whose raw and feature gates are not blocked, one timeframe,
-- with the bar's open, high, low and volume (the strategy evaluation fills within the bar);
-- $3 (NULL: all) keeps each stream's newest that many rows.
SELECT f.*, c.open, c.high, c.low, c.volume
FROM marts.fct_features AS f
JOIN marts.fct_candles AS c USING (exchange, symbol, timeframe, ts)
WHERE f.timeframe = $1
  AND list_contains($2, f.symbol)
  AND NOT ops.stream_blocked(f.exchange, f.symbol, f.timeframe)
QUALIFY $3 IS NULL
  OR row_number() OVER (PARTITION BY f.exchange, f.symbol ORDER BY f.ts DESC) <= $3
ORDER BY f.exchange, f.symbol, f.ts
