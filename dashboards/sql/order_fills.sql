SELECT f.*, c.low AS bar_low, c.high AS bar_high
FROM trading.fills AS f
LEFT JOIN marts.fct_candles AS c
  ON c.exchange = f.exchange AND c.symbol = f.symbol AND c.ts = f.bar_ts
 AND c.timeframe = (SELECT timeframe FROM trading.orders WHERE client_order_id = $1)
WHERE f.client_order_id = $1 ORDER BY f.bar_ts
