-- The newest value of each risk metric per account; NULL where it could not be judged.
SELECT account, metric, value, status FROM risk.metrics
QUALIFY row_number() OVER (PARTITION BY account, metric ORDER BY computed_at DESC) = 1
ORDER BY ALL
