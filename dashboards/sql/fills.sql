SELECT * FROM trading.fills ORDER BY bar_ts DESC LIMIT 500
