-- Newest closed candle per stream, and how far it trails the replay clock / now.
SELECT c.exchange, c.symbol, c.timeframe, max(c.ts) AS newest_bar, count(*) AS bars,
       any_value(r.released_until) AS replay_clock
FROM marts.fct_candles AS c
LEFT JOIN ops.replay_clock AS r USING (exchange, symbol, timeframe)
WHERE c.origin_timeframe = c.timeframe AND NOT c.is_open
GROUP BY ALL ORDER BY ALL
