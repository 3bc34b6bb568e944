SELECT DISTINCT exchange, symbol, timeframe FROM marts.fct_features ORDER BY ALL
