-- Per-bar simple returns of the traded symbols over the most recent window, one row per ts.
SELECT ts, symbol, close / lag(close) OVER (PARTITION BY symbol ORDER BY ts) - 1 AS r
FROM marts.fct_candles
WHERE timeframe = $1 AND list_contains($2, symbol) AND origin_timeframe = timeframe
QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) <= $3 + 1
