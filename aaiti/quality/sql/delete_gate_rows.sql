DELETE FROM raw.ohlcv
WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts IN (SELECT ts FROM gate_rejects)
