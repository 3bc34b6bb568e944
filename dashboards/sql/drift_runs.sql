SELECT * FROM monitoring.drift_runs ORDER BY computed_at
