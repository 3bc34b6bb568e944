-- The feature streams of the universe's (exchange, symbol) pairs: every timeframe
-- fct_features holds for them (ingested and resampled).
SELECT DISTINCT f.exchange, f.symbol, f.timeframe
FROM marts.fct_features AS f
JOIN gate_pairs AS p USING (exchange, symbol)
ORDER BY 1, 2, 3
