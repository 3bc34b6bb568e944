-- The traded symbols' closed native bars between two times: the marks of the symbols a
-- step at one bar time has no new bar for (they are ahead, or behind, of the others).
SELECT symbol, ts, close FROM marts.fct_candles
WHERE timeframe = $1 AND list_contains($2, symbol) AND ts BETWEEN $3 AND $4
  AND origin_timeframe = timeframe AND NOT is_open
