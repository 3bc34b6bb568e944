SELECT accepted_at, actor, reason FROM trading.reconcile_accepts
WHERE account = $1 AND applied_at IS NULL ORDER BY accepted_at LIMIT 1
