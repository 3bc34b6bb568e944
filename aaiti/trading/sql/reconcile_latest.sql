-- The account's latest live check: each currency's figures and whether they agreed.
SELECT kind, currency, ledger, exchange, agrees, checked_at FROM trading.reconciliations
WHERE account = $1
  AND checked_at = (SELECT max(checked_at) FROM trading.reconciliations WHERE account = $1)
ORDER BY currency
