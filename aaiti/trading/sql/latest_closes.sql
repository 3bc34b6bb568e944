-- Each symbol's newest closed bar that a quality gate accepted: its close (values a balance
-- taken from the exchange) and its stream's exchange.
SELECT symbol, arg_max(close, ts), arg_max(exchange, ts) FROM marts.fct_candles
WHERE timeframe = $1 AND list_contains($2, symbol) AND origin_timeframe = timeframe AND NOT is_open
  AND NOT ops.stream_blocked(exchange, symbol, timeframe)
GROUP BY symbol
