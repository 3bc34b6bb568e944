UPDATE ops.ingest_runs
SET fetched = $2, inserted = $3, updated = $4, unchanged = $5, rejected = $6, retries = $7,
    until = coalesce($8, until)
WHERE run_id = $1
