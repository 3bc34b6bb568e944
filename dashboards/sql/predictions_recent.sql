SELECT model_name, model_version, symbol, count(*) AS predictions, min(ts) AS first_bar,
       max(ts) AS last_bar, avg(probability) AS mean_probability
FROM ml.predictions GROUP BY ALL ORDER BY ALL
