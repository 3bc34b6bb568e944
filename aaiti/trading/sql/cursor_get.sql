SELECT last_bar_ts FROM trading.cursor
WHERE account = $1 AND exchange = $2 AND symbol = $3 AND timeframe = $4
