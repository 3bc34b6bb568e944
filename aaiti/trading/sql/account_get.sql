SELECT initial_cash, cash FROM trading.account WHERE account = $1
