-- Move a stream's high-water mark forward (never back).
INSERT INTO ops.ingest_state AS s (source, exchange, symbol, timeframe, high_water_ts, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (source, exchange, symbol, timeframe) DO UPDATE
SET high_water_ts = greatest(s.high_water_ts, excluded.high_water_ts),
    updated_at = excluded.updated_at
