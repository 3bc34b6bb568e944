SELECT r.computed_at, r.model_name, r.model_version, m.*
FROM monitoring.drift_metrics AS m JOIN monitoring.drift_runs AS r USING (drift_run_id)
ORDER BY r.computed_at, m.kind, m.column_name
