-- Every stream the warehouse has stored candles of (its high-water marks), whatever source.
SELECT DISTINCT exchange, symbol, timeframe FROM ops.ingest_state ORDER BY ALL
