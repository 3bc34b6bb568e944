SELECT enabled, actor, reason, switched_at FROM strategy.switches WHERE name = $1 AND timeframe = $2
