-- Each traded stream's newest closed native bar (the streams new_bars.sql steps: with a
-- prediction of this model, not blocked by a quality gate): the account steps a bar time
-- only once every one of them has reached it, or waited long enough (see _in_order).
-- $4 bounds the scan below: the oldest new bar less the wait. A stream with nothing since
-- is more than the wait behind every new bar, so in_order would not wait for it anyway.
WITH traded AS (
    SELECT DISTINCT exchange, symbol, timeframe FROM ml.predictions
    WHERE timeframe = $1 AND list_contains($2, symbol) AND model_name = $3
)
SELECT b.exchange, b.symbol, max(b.ts) AS newest
FROM marts.fct_candles AS b
JOIN traded USING (exchange, symbol, timeframe)
WHERE b.ts >= $4 AND b.origin_timeframe = b.timeframe AND NOT b.is_open
  AND NOT ops.stream_blocked(b.exchange, b.symbol, b.timeframe)
GROUP BY b.exchange, b.symbol
