UPDATE ops.ingest_runs
SET status = 'abandoned', error = 'process ' || pid || ' ended without finishing the run'
WHERE run_id = $1
