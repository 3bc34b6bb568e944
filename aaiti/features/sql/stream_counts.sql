-- Rows per stream of a relation ordered by (exchange, symbol, timeframe, ts): the slices.
SELECT exchange, symbol, timeframe, count(*) AS n
FROM _aaiti_rows
GROUP BY exchange, symbol, timeframe
ORDER BY exchange, symbol, timeframe
