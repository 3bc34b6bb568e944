INSERT INTO monitoring.retrain_decisions (decided_at, model_name, drift_run_id, retrain, reason)
VALUES ($1, $2, $3, $4, $5)
