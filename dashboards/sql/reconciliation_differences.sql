-- Each live account's latest reconciliation: what disagreed with the exchange.
WITH latest AS (
    SELECT account, max(checked_at) AS at FROM trading.reconciliations GROUP BY account
)
SELECT r.account, r.kind, r.currency, r.ledger, r.exchange
FROM trading.reconciliations r JOIN latest l ON r.account = l.account AND r.checked_at = l.at
WHERE NOT r.agrees
ORDER BY r.account, r.currency
