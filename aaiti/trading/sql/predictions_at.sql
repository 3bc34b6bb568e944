-- The pinned model version's prediction for each stream bar, with the bar's ATR and
-- realised volatility (the strategy sizes and places stops on them).
SELECT p.exchange, p.symbol, p.timeframe, p.ts, p.probability, p.model_name, p.model_version,
       p.run_id, f.atr_14, f.realized_vol_20
FROM ml.predictions AS p
LEFT JOIN marts.fct_features AS f USING (exchange, symbol, timeframe, ts)
WHERE p.timeframe = $1 AND p.model_name = $2 AND p.ts >= $3 AND p.model_version = $4
