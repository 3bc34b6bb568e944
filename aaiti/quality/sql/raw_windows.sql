-- The rows the rules see: from each stream's window start (NULL: its whole history).
SELECT o.exchange, o.symbol, o.timeframe, o.ts, o.open, o.high, o.low, o.close, o.volume
FROM raw.ohlcv AS o
JOIN gate_windows AS w USING (exchange, symbol, timeframe)
WHERE w.since IS NULL OR o.ts >= w.since
ORDER BY o.exchange, o.symbol, o.timeframe, o.ts
