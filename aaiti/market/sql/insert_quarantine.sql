-- Rejected rows with the reason ($1 = batch id, $2 = time, $3 = source).
INSERT INTO raw.ohlcv_quarantine
    (ingest_batch_id, quarantined_at, source, exchange, symbol, timeframe, ts, open, high, low,
     close, volume, raw_record, reason, stage)
SELECT $1, $2, $3, exchange, symbol, timeframe, ts, open, high, low, close, volume,
       raw_record, reason, 'ingest'
FROM rejected
