-- Closed native bars of the traded streams after each stream's cursor; a stream without a
-- cursor starts at its first champion prediction. A stream a quality gate blocks gives no
-- bars: nothing trades, fills or is marked at a price the gate did not accept.
WITH starts AS (
    SELECT p.exchange, p.symbol, p.timeframe,
           coalesce(any_value(c.last_bar_ts), min(p.ts) - INTERVAL 1 SECOND) AS after_ts
    FROM ml.predictions AS p
    LEFT JOIN trading.cursor AS c
      ON c.account = $4 AND c.exchange = p.exchange AND c.symbol = p.symbol AND c.timeframe = p.timeframe
    WHERE p.timeframe = $1 AND list_contains($2, p.symbol) AND p.model_name = $3
    GROUP BY p.exchange, p.symbol, p.timeframe
)
SELECT b.exchange, b.symbol, b.timeframe, b.ts, b.open, b.high, b.low, b.close, b.volume
FROM marts.fct_candles AS b
JOIN starts AS s USING (exchange, symbol, timeframe)
WHERE b.ts > s.after_ts AND b.origin_timeframe = b.timeframe AND NOT b.is_open
  AND NOT ops.stream_blocked(b.exchange, b.symbol, b.timeframe)
ORDER BY b.ts, b.symbol
