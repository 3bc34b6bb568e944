-- Feature rows of each stream judged in full.
SELECT p.exchange, p.symbol, p.timeframe, count(f.ts) AS n, NULL::TIMESTAMPTZ AS ingest_mark
FROM gate_plan AS p
LEFT JOIN marts.fct_features AS f USING (exchange, symbol, timeframe)
GROUP BY ALL
