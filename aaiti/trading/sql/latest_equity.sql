SELECT equity FROM trading.equity WHERE account = $1 ORDER BY ts DESC LIMIT 1
