SELECT exchange, symbol, position, held, stop, target
FROM trading.strategy_streams WHERE account = $1
