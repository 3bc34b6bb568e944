SELECT * FROM trading.orders WHERE status IN ('new', 'partially_filled') ORDER BY created_at DESC
