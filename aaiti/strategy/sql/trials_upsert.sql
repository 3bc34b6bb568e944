-- One row per recipe and data set: a retrain on more data updates it, never adds a trial.
INSERT INTO strategy.trials AS t
    (dataset_key, dataset, recipe_key, recipe, source, sharpe, observations, weight,
     first_seen, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
ON CONFLICT (dataset_key, recipe_key) DO UPDATE SET
    source = excluded.source, sharpe = excluded.sharpe, observations = excluded.observations,
    weight = excluded.weight, last_seen = excluded.last_seen
