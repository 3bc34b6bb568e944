-- Candles features are computed on: every stored candle except a bucket still open.
SELECT exchange, symbol, timeframe, timeframe_s, ts, open, high, low, close, volume,
       is_complete, gap_bars_before, loaded_at
FROM _aaiti_feature_candles
WHERE NOT is_open
