SELECT model_name, model_version, strategy_version, spec, qualified, reason, decided_at
FROM strategy.state WHERE strategy = $1 AND timeframe = $2
