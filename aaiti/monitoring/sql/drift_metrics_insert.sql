INSERT INTO monitoring.drift_metrics BY NAME SELECT * FROM drift_rows
