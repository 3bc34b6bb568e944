-- Feature rows from each stream's window start (NULL: its whole history).
SELECT f.*
FROM marts.fct_features AS f
JOIN gate_windows AS w USING (exchange, symbol, timeframe)
WHERE w.since IS NULL OR f.ts >= w.since
ORDER BY f.exchange, f.symbol, f.timeframe, f.ts
