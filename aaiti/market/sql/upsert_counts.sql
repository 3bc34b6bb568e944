-- How an incoming batch relates to what is stored: new keys, changed rows, identical rows.
SELECT
    count(*) FILTER (WHERE t.ts IS NULL)                                  AS new_rows,
    count(*) FILTER (WHERE t.ts IS NOT NULL AND (
        t.open   IS DISTINCT FROM i.open  OR t.high  IS DISTINCT FROM i.high OR
        t.low    IS DISTINCT FROM i.low   OR t.close IS DISTINCT FROM i.close OR
        t.volume IS DISTINCT FROM i.volume))                              AS changed_rows,
    count(*)                                                              AS total_rows
FROM incoming AS i
LEFT JOIN raw.ohlcv AS t
    ON  t.exchange = i.exchange AND t.symbol = i.symbol
    AND t.timeframe = i.timeframe AND t.ts = i.ts
