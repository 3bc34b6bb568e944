-- Candles features are computed on: every stored candle except a bucket still open, of
-- streams whose raw quality gate is not blocked. A resampled timeframe follows the gate of
-- the ingested stream it is built from (origin_timeframe).
SELECT c.exchange, c.symbol, c.timeframe, c.timeframe_s, c.ts, c.open, c.high, c.low, c.close,
       c.volume, c.is_complete, c.gap_bars_before, c.loaded_at
FROM _aaiti_feature_candles AS c
WHERE NOT c.is_open
  AND NOT EXISTS (
      SELECT 1 FROM ops.stream_gates AS g
      WHERE g.checkpoint = 'raw' AND g.status = 'blocked'
        AND g.exchange = c.exchange AND g.symbol = c.symbol AND g.timeframe = c.origin_timeframe
  )
