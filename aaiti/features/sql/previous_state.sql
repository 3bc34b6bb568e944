-- The newest feature row of each stream: its state and what it had seen.
SELECT exchange, symbol, timeframe, ts AS last_ts, bar_index, ema_12, ema_26, macd_signal,
       rsi_avg_gain, rsi_avg_loss, atr_14, stream_watermark
FROM _aaiti_previous_features
QUALIFY row_number() OVER (PARTITION BY exchange, symbol, timeframe ORDER BY ts DESC) = 1
