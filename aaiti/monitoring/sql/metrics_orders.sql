-- Orders by account and status; the risk gate's refusals by rule.
SELECT 'order' AS kind, account, status AS label, count(*) AS n FROM trading.orders GROUP BY ALL
UNION ALL
SELECT 'refusal', account, rule, count(*) FROM risk.breaches GROUP BY ALL
ORDER BY ALL
