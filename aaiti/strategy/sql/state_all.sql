SELECT strategy, strategy_version, model_name, model_version, qualified, reason
FROM strategy.state ORDER BY strategy
