SELECT series, ts, strategy, buy_and_hold FROM strategy.curves
WHERE evaluation_id = $1 AND role = $2 ORDER BY series, ts
