INSERT INTO trading.account AS a (account, initial_cash, cash, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (account) DO UPDATE SET cash = excluded.cash, updated_at = excluded.updated_at
