-- Streams a quality gate blocks for this timeframe (raw, or the timeframe's features).
SELECT DISTINCT exchange, symbol FROM ops.stream_gates
WHERE status = 'blocked' AND (timeframe = $1 OR checkpoint = 'raw')
