-- The newest model version's prediction for each stream bar.
SELECT exchange, symbol, timeframe, ts, probability, model_name, model_version, run_id
FROM ml.predictions
WHERE timeframe = $1 AND model_name = $2 AND ts >= $3
QUALIFY row_number() OVER (PARTITION BY exchange, symbol, timeframe, ts ORDER BY model_version DESC) = 1
