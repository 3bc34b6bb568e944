-- The newest bar time the account has stepped in this timeframe: a bar older than it is
-- never stepped (its cash and fills would follow bars after it).
SELECT max(last_bar_ts) FROM trading.cursor WHERE account = $1 AND timeframe = $2
