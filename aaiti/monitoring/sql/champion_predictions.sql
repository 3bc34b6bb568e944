-- What the champion actually predicted (out of sample), for its live quality.
SELECT symbol, ts, probability FROM ml.predictions
WHERE model_name = $1 AND model_version = $2 AND timeframe = $3
