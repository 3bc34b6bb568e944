-- The account ($1) and its books (<account>.<QUOTE>) that the warehouse holds a cash
-- balance or a risk state of.
SELECT account FROM trading.account WHERE account = $1 OR starts_with(account, $1 || '.')
UNION
SELECT account FROM risk.state WHERE account = $1 OR starts_with(account, $1 || '.')
