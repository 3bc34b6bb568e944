-- Traded streams a quality gate blocks now (raw, or this timeframe's features): no orders,
-- and a position held there stays marked at its last accepted close.
SELECT g.exchange, g.symbol, string_agg(g.checkpoint || ': ' || coalesce(g.reason, 'blocked'), '; ') AS reason,
       max(g.updated_at) AS since
FROM ops.stream_gates AS g
WHERE g.status = 'blocked' AND list_contains($2, g.symbol)
  AND (g.timeframe = $1 OR g.checkpoint = 'raw')
GROUP BY g.exchange, g.symbol
ORDER BY g.exchange, g.symbol
