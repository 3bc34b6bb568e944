UPDATE monitoring.retrain_decisions SET started_via = $1 WHERE drift_run_id = $2
