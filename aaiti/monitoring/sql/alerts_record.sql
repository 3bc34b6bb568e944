INSERT INTO monitoring.alerts BY NAME SELECT * FROM alert_outcomes
ON CONFLICT (alert_id, channel) DO NOTHING
