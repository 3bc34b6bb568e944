UPDATE ops.ingest_runs
SET status = $2, finished_at = $3, duration_s = $4, error = $5,
    fetched = $6, inserted = $7, updated = $8, unchanged = $9, rejected = $10, retries = $11,
    notes = $12
WHERE run_id = $1
