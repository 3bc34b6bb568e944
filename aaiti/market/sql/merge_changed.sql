-- Upsert: insert new keys, update rows whose values changed, leave identical rows alone
-- (so a rerun keeps the batch id of the run that really wrote them).
MERGE INTO raw.ohlcv AS t
USING incoming AS i
    ON  t.exchange = i.exchange AND t.symbol = i.symbol
    AND t.timeframe = i.timeframe AND t.ts = i.ts
WHEN MATCHED AND (
        t.open   IS DISTINCT FROM i.open  OR t.high  IS DISTINCT FROM i.high OR
        t.low    IS DISTINCT FROM i.low   OR t.close IS DISTINCT FROM i.close OR
        t.volume IS DISTINCT FROM i.volume) THEN
    UPDATE SET open = i.open, high = i.high, low = i.low, close = i.close,
               volume = i.volume, ingest_batch_id = $1, ingested_at = $2
WHEN NOT MATCHED THEN
    INSERT VALUES (i.exchange, i.symbol, i.timeframe, i.ts, i.open, i.high, i.low, i.close,
                   i.volume, $1, $2)
