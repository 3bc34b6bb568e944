-- The traded instruments' closed native bars between two times: the marks of those a
-- step at one bar time has no new bar for (they are ahead, or behind, of the others).
-- A stream a quality gate blocks gives none: nothing is marked at a price the gate did not
-- accept (as in new_bars.sql).
SELECT b.exchange, b.symbol, b.ts, b.close FROM marts.fct_candles AS b
WHERE b.timeframe = $1 AND list_contains($2, b.symbol) AND b.ts BETWEEN $3 AND $4
  AND b.origin_timeframe = b.timeframe AND NOT b.is_open
  AND NOT ops.stream_blocked(b.exchange, b.symbol, b.timeframe)
