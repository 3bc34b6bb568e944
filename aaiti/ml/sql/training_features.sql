-- Feature rows of the streams whose raw and feature gates are not blocked, one timeframe,
-- with the bar's open, high, low and volume (the strategy evaluation fills within the bar).
SELECT f.*, c.open, c.high, c.low, c.volume
FROM marts.fct_features AS f
JOIN marts.fct_candles AS c USING (exchange, symbol, timeframe, ts)
WHERE f.timeframe = $1
  AND list_contains($2, f.symbol)
  AND NOT EXISTS (
      SELECT 1 FROM ops.stream_gates AS g
      WHERE g.status = 'blocked' AND g.exchange = f.exchange AND g.symbol = f.symbol
        AND (g.timeframe = f.timeframe OR g.checkpoint = 'raw')
  )
ORDER BY f.exchange, f.symbol, f.ts
