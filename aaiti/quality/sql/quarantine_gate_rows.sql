-- Move the rows a gate rejected out of raw.ohlcv (with the failing expectations).
INSERT INTO raw.ohlcv_quarantine
    (ingest_batch_id, quarantined_at, source, exchange, symbol, timeframe, ts, open, high, low,
     close, volume, raw_record, reason, stage)
SELECT o.ingest_batch_id, $1, 'quality-gate', o.exchange, o.symbol, o.timeframe, o.ts, o.open,
       o.high, o.low, o.close, o.volume, to_json(o)::VARCHAR, r.reason, 'gate'
FROM raw.ohlcv AS o
JOIN gate_rejects AS r
  ON r.exchange = o.exchange AND r.symbol = o.symbol AND r.timeframe = o.timeframe AND r.ts = o.ts
