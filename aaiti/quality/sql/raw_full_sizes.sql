-- Rows and newest ingest time of each stream judged in full.
SELECT p.exchange, p.symbol, p.timeframe, count(o.ts) AS n, max(o.ingested_at) AS ingest_mark
FROM gate_plan AS p
LEFT JOIN raw.ohlcv AS o USING (exchange, symbol, timeframe)
GROUP BY ALL
