SELECT exchange, symbol, actor, reason, released_at FROM trading.stale_releases WHERE account = $1
