-- Per stream: candles stored, the newest bar's open time, rows quarantined.
SELECT r.exchange, r.symbol, r.timeframe, r.candles, r.newest,
       coalesce(q.quarantined, 0) AS quarantined
FROM (SELECT exchange, symbol, timeframe, count(*) AS candles, epoch(max(ts)) AS newest
      FROM raw.ohlcv GROUP BY ALL) AS r
LEFT JOIN (SELECT exchange, symbol, timeframe, count(*) AS quarantined
           FROM raw.ohlcv_quarantine GROUP BY ALL) AS q USING (exchange, symbol, timeframe)
ORDER BY ALL
