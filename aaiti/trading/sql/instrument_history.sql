-- Bars of history per traded symbol (for failing closed when a symbol is too new).
SELECT symbol, count(*) AS bars FROM marts.fct_candles
WHERE timeframe = $1 AND list_contains($2, symbol) AND origin_timeframe = timeframe
GROUP BY symbol
