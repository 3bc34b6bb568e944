SELECT * FROM trading.orders
WHERE account = $1 AND status IN ('new', 'partially_filled')
