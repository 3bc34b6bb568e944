SELECT * FROM monitoring.retrain_decisions ORDER BY decided_at DESC LIMIT 50
