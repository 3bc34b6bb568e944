-- One order back to its roots: the prediction (and model) behind it, the feature row the
-- model saw, the candle that closed it, and its fills.
SELECT o.client_order_id, o.status, o.side, o.decided_at_bar, o.model_name, o.model_version,
       o.run_id, p.probability, p.predicted_at, f.close AS feature_close, f.rsi_14, f.macd_hist,
       f.realized_vol_20, c.open, c.high, c.low, c.close, c.volume
FROM trading.orders AS o
LEFT JOIN ml.predictions AS p
  ON p.exchange = o.exchange AND p.symbol = o.symbol AND p.timeframe = o.timeframe
 AND p.ts = o.prediction_ts
 AND p.model_name = o.model_name AND p.model_version = o.model_version
LEFT JOIN marts.fct_features AS f
  ON f.exchange = o.exchange AND f.symbol = o.symbol AND f.timeframe = o.timeframe
 AND f.ts = o.prediction_ts
LEFT JOIN marts.fct_candles AS c
  ON c.exchange = o.exchange AND c.symbol = o.symbol AND c.timeframe = o.timeframe
 AND c.ts = o.decided_at_bar
WHERE o.client_order_id = $1
