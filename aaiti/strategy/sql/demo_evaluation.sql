-- The first training run's evaluation of a strategy (the demo's: its figures are published).
SELECT summary
FROM strategy.evaluations
WHERE role = 'challenger' AND strategy = $1 AND timeframe = $2
ORDER BY evaluated_at
LIMIT 1
