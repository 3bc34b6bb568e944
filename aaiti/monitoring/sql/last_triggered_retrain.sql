-- When drift last started a retrain of this model (the cool-down counts from it).
SELECT max(decided_at) FROM monitoring.retrain_decisions
WHERE model_name = $1 AND retrain
