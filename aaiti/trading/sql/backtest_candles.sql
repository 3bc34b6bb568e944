SELECT symbol, ts, open, high, low, close, volume FROM marts.fct_candles
WHERE timeframe = $1 AND list_contains($2, symbol) AND origin_timeframe = timeframe AND NOT is_open
ORDER BY symbol, ts
