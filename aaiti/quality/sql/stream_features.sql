SELECT * FROM marts.fct_features
WHERE exchange = $1 AND symbol = $2 AND timeframe = $3
ORDER BY ts
