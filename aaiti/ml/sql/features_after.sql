-- Feature rows of one timeframe after a time, for the given symbols, not yet scored by a
-- model version, of streams whose gates are not blocked.
SELECT f.*
FROM marts.fct_features AS f
WHERE f.timeframe = $1 AND list_contains($2, f.symbol) AND f.ts > $3
  AND NOT EXISTS (
      SELECT 1 FROM ml.predictions AS p
      WHERE p.exchange = f.exchange AND p.symbol = f.symbol AND p.timeframe = f.timeframe
        AND p.ts = f.ts AND p.model_name = $4 AND p.model_version = $5
  )
  AND NOT ops.stream_blocked(f.exchange, f.symbol, f.timeframe)
ORDER BY f.ts, f.symbol
