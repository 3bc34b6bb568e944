-- Per stream with stored features: candles at or before the last feature row that were
-- loaded after it was computed (a repaired past), and the newest load time overall.
SELECT c.exchange, c.symbol, c.timeframe,
       count(*) FILTER (WHERE c.ts <= s.last_ts AND c.loaded_at > s.stream_watermark) AS changed_past,
       count(*) FILTER (WHERE c.ts > s.last_ts)                                        AS new_rows
FROM eligible AS c
JOIN state AS s USING (exchange, symbol, timeframe)
GROUP BY ALL
