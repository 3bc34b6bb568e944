-- The newest mark of each account.
SELECT account, cash, position_value, equity, drawdown FROM trading.equity
QUALIFY row_number() OVER (PARTITION BY account ORDER BY ts DESC) = 1
ORDER BY ALL
