-- Incoming candles identical to ones a quality gate quarantined: they stay out. A source
-- that corrects the values (a different candle for the same ts) is let back in.
SELECT DISTINCT i.exchange, i.symbol, i.timeframe, i.ts
FROM incoming AS i
JOIN raw.ohlcv_quarantine AS q
  ON  q.stage = 'gate' AND q.exchange = i.exchange AND q.symbol = i.symbol
  AND q.timeframe = i.timeframe AND q.ts = i.ts
  AND q.open = i.open AND q.high = i.high AND q.low = i.low AND q.close = i.close
  AND q.volume = i.volume
