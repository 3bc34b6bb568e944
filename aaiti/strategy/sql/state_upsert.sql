INSERT INTO strategy.state AS s
    (strategy, timeframe, model_name, model_version, strategy_version, spec, qualified, reason, decided_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (strategy) DO UPDATE SET
    timeframe = excluded.timeframe, model_name = excluded.model_name,
    model_version = excluded.model_version, strategy_version = excluded.strategy_version,
    spec = excluded.spec, qualified = excluded.qualified, reason = excluded.reason,
    decided_at = excluded.decided_at
