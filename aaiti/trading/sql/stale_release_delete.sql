DELETE FROM trading.stale_releases WHERE account = $1 AND exchange = $2 AND symbol = $3
