INSERT INTO ops.ingest_runs (run_id, pid, kind, source, exchange, symbol, timeframe, since, until,
                             started_at, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'running')
