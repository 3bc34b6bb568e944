-- The feature rows at or before each stream's mark: a rebuild that changes them is judged whole.
UPDATE ops.stream_gates AS g
SET rows_through = (
    SELECT count(*) FROM marts.fct_features AS f
    WHERE f.exchange = g.exchange AND f.symbol = g.symbol AND f.timeframe = g.timeframe
      AND f.ts <= g.validated_through
)
WHERE g.checkpoint = 'features'
  AND (g.exchange, g.symbol, g.timeframe) IN (SELECT exchange, symbol, timeframe FROM gate_verdicts)
