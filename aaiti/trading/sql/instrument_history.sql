-- Bars of history per traded instrument (a symbol on one exchange), for failing closed when
-- one is too new.
SELECT exchange, symbol, count(*) AS bars FROM marts.fct_candles
WHERE timeframe = $1 AND list_contains($2, symbol) AND origin_timeframe = timeframe
GROUP BY exchange, symbol
