SELECT account, ts, cash, position_value, equity, drawdown FROM trading.equity ORDER BY account, ts
