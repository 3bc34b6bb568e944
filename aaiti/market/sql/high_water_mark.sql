SELECT max(ts) FROM raw.ohlcv WHERE exchange = $1 AND symbol = $2 AND timeframe = $3
