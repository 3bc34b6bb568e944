SELECT ts, equity FROM trading.equity WHERE account = $1 ORDER BY ts
