-- A finer native timeframe's bars over the coarse streams' judged spans (cross-timeframe).
SELECT f.fine_timeframe, o.exchange, o.symbol, o.ts, o.open, o.high, o.low, o.close
FROM raw.ohlcv AS o
JOIN gate_finer AS f
  ON o.exchange = f.exchange AND o.symbol = f.symbol AND o.timeframe = f.fine_timeframe
WHERE o.ts >= f.since AND o.ts < f.until
ORDER BY o.exchange, o.symbol, f.fine_timeframe, o.ts
