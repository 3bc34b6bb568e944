-- Candles an incremental step needs: a bounded lookback before the last feature row of each
-- stream (pruned by ts so the scan stays small) and everything after it.
SELECT c.*
FROM eligible AS c
JOIN state AS s USING (exchange, symbol, timeframe)
WHERE c.ts > to_timestamp(epoch(s.last_ts) - $1 * c.timeframe_s)
ORDER BY c.exchange, c.symbol, c.timeframe, c.ts
