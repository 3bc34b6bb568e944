INSERT INTO risk.metrics BY NAME SELECT * FROM metrics_now
