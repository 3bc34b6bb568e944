-- An account's (a book's) newest equity row: its bar time and equity.
SELECT ts, equity FROM trading.equity WHERE account = $1 ORDER BY ts DESC LIMIT 1
