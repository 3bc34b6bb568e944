SELECT exchange, symbol, quantity, average_price, realized_pnl, mark_price
FROM trading.positions WHERE account = $1
