-- One line per stream: what is stored, what was rejected, how the last run went.
WITH c AS (
    SELECT exchange, symbol, timeframe, count(*) AS candles,
           strftime(min(ts), '%Y-%m-%d %H:%M') AS first, strftime(max(ts), '%Y-%m-%d %H:%M') AS last
    FROM raw.ohlcv GROUP BY ALL
), q AS (
    SELECT exchange, symbol, timeframe, count(*) AS quarantined
    FROM raw.ohlcv_quarantine GROUP BY ALL
), g AS (  -- a quality gate that blocks the stream (ops.stream_blocked's rule), with why
    SELECT c.exchange, c.symbol, c.timeframe,
           string_agg(s.checkpoint || ': ' || coalesce(s.reason, 'blocked'), '; ') AS blocked
    FROM c JOIN ops.stream_gates AS s
      ON s.status = 'blocked' AND s.exchange = c.exchange AND s.symbol = c.symbol
     AND (s.timeframe = c.timeframe OR s.checkpoint = 'raw')
    GROUP BY ALL
), r AS (
    SELECT exchange, symbol, timeframe,
           arg_max(status || ' ' || strftime(started_at, '%Y-%m-%d %H:%M'), started_at) AS last_run
    FROM ops.ingest_runs GROUP BY ALL
)
SELECT c.exchange, c.symbol, c.timeframe, c.candles, c.first, c.last,
       coalesce(q.quarantined, 0), r.last_run,
       CASE WHEN g.blocked IS NULL THEN 'ok' ELSE 'BLOCKED — ' || g.blocked END AS gate
FROM c
LEFT JOIN q USING (exchange, symbol, timeframe)
LEFT JOIN r USING (exchange, symbol, timeframe)
LEFT JOIN g USING (exchange, symbol, timeframe)
ORDER BY ALL
