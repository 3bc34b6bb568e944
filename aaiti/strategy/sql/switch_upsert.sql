INSERT OR REPLACE INTO strategy.switches (name, timeframe, enabled, actor, reason, switched_at)
VALUES ($1, $2, $3, $4, $5, $6)
