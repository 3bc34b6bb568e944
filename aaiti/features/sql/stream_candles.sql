-- The eligible candles of the streams named in _aaiti_full_keys, ordered for slicing: the
-- streams recomputed from their first bar, in one scan.
SELECT c.*
FROM eligible AS c
JOIN _aaiti_full_keys USING (exchange, symbol, timeframe)
ORDER BY c.exchange, c.symbol, c.timeframe, c.ts
