SELECT exchange, symbol, quantity * coalesce(mark_price, average_price) AS value
FROM trading.positions WHERE account = $1 AND quantity <> 0
