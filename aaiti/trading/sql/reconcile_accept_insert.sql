INSERT INTO trading.reconcile_accepts (account, accepted_at, actor, reason) VALUES ($1, $2, $3, $4)
