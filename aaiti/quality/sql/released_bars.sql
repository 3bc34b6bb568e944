SELECT r.exchange, r.symbol, r.timeframe, r.ts
FROM ops.quality_releases AS r
JOIN gate_streams AS s USING (exchange, symbol, timeframe)
