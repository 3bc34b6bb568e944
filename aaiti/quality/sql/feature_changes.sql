-- Per incrementally judged stream: rows at or before its mark (a rebuild changes that
-- count) and the first row after it.
SELECT p.exchange, p.symbol, p.timeframe,
       count(f.ts) FILTER (WHERE f.ts <= p.through) AS rows_through,
       min(f.ts) FILTER (WHERE f.ts > p.through) AS changed_from
FROM gate_plan AS p
LEFT JOIN marts.fct_features AS f USING (exchange, symbol, timeframe)
GROUP BY ALL
