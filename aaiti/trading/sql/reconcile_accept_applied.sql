UPDATE trading.reconcile_accepts SET applied_at = $2 WHERE account = $1 AND applied_at IS NULL
