SELECT g.exchange, g.symbol, g.timeframe, g.checkpoint, g.reason, g.updated_at,
       p.quantity, p.mark_price
FROM ops.stream_gates AS g
LEFT JOIN trading.positions AS p USING (exchange, symbol)
WHERE g.status = 'blocked'
ORDER BY g.exchange, g.symbol
