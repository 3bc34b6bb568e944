-- The other recipes tried on a data set: their Sharpes and weights.
SELECT sharpe, weight
FROM strategy.trials
WHERE dataset_key = $1 AND NOT list_contains($2::VARCHAR[], recipe_key)
ORDER BY first_seen, recipe_key
