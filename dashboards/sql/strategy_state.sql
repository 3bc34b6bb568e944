SELECT strategy, timeframe, model_name, model_version, strategy_version, qualified, reason, decided_at
FROM strategy.state ORDER BY decided_at DESC
