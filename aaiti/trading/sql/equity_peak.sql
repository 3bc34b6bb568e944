SELECT max(equity) FROM trading.equity WHERE account = $1
