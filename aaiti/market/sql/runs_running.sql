-- Runs of a stream still marked running (their process may have died).
SELECT run_id, pid FROM ops.ingest_runs
WHERE status = 'running' AND exchange = $1 AND symbol = $2 AND timeframe = $3
