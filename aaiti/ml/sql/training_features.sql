-- Feature rows of the streams whose raw and feature gates are not blocked, one timeframe,
-- with the bar's open, high, low and volume (the strategy evaluation fills within the bar);
-- $3 (NULL: all) keeps each stream's newest that many rows. The symbols are a table joined,
-- not a list searched per row (500 symbols × 21.6M rows), and the cut is found on the keys
-- alone, its oldest bar filtering both tables before they are joined.
WITH wanted AS (SELECT unnest($2::VARCHAR[]) AS symbol),
ranked AS (
    SELECT exchange, symbol, ts,
        row_number() OVER (PARTITION BY exchange, symbol ORDER BY ts DESC) AS newest_first
    FROM marts.fct_features SEMI JOIN wanted USING (symbol)
    WHERE $3 IS NOT NULL AND timeframe = $1
),
cut AS (
    SELECT exchange, symbol, min(ts) AS since FROM ranked WHERE newest_first <= $3
    GROUP BY exchange, symbol
),
oldest AS (SELECT coalesce(min(since), '-infinity'::TIMESTAMPTZ) AS since FROM cut),
f AS (
    SELECT * FROM marts.fct_features SEMI JOIN wanted USING (symbol)
    WHERE timeframe = $1 AND ts >= (SELECT since FROM oldest)
),
c AS (
    SELECT exchange, symbol, timeframe, ts, open, high, low, volume
    FROM marts.fct_candles SEMI JOIN wanted USING (symbol)
    WHERE timeframe = $1 AND ts >= (SELECT since FROM oldest)
)
SELECT f.*, c.open, c.high, c.low, c.volume
FROM f
JOIN c USING (exchange, symbol, timeframe, ts)
LEFT JOIN cut USING (exchange, symbol)
WHERE NOT ops.stream_blocked(f.exchange, f.symbol, f.timeframe)
  AND ($3 IS NULL OR f.ts >= cut.since)
ORDER BY f.exchange, f.symbol, f.ts
