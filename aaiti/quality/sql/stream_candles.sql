SELECT exchange, symbol, timeframe, ts, open, high, low, close, volume
FROM raw.ohlcv
WHERE exchange = $1 AND symbol = $2 AND timeframe = $3
ORDER BY ts
