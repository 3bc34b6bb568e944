SELECT * FROM risk.metrics WHERE computed_at = (SELECT max(computed_at) FROM risk.metrics)
ORDER BY metric
