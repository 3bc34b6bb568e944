-- Per incrementally judged stream: the first bar that is new or changed since its mark,
-- the first bar of the window the rules need before it ($1 bars back), and the stream's
-- newest ingest time. Streams with nothing new return no row.
WITH changed AS (
    SELECT o.exchange, o.symbol, o.timeframe, min(o.ts) AS changed_from,
           max(o.ingested_at) AS ingest_mark
    FROM raw.ohlcv AS o
    JOIN gate_plan AS p USING (exchange, symbol, timeframe)
    WHERE o.ts > p.through OR o.ingested_at > p.ingest_mark
    GROUP BY ALL
)
SELECT c.exchange, c.symbol, c.timeframe, c.changed_from, c.ingest_mark,
       (SELECT min(w.ts) FROM (
            SELECT o.ts FROM raw.ohlcv AS o
            WHERE o.exchange = c.exchange AND o.symbol = c.symbol
              AND o.timeframe = c.timeframe AND o.ts < c.changed_from
            ORDER BY o.ts DESC LIMIT $1) AS w) AS since
FROM changed AS c
