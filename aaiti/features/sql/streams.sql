SELECT DISTINCT exchange, symbol, timeframe FROM eligible
