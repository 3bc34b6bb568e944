-- Each stream's gate per checkpoint: 1 when blocked.
SELECT checkpoint, exchange, symbol, timeframe, (status = 'blocked')::INTEGER AS blocked
FROM ops.stream_gates ORDER BY ALL
