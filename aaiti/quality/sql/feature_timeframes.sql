SELECT DISTINCT timeframe FROM marts.fct_features WHERE list_contains($1, symbol) ORDER BY 1
