-- The timeframes a source supplies natively for the symbols being judged.
SELECT DISTINCT o.exchange, o.symbol, o.timeframe
FROM raw.ohlcv AS o
WHERE (o.exchange, o.symbol) IN (SELECT DISTINCT exchange, symbol FROM gate_streams)
