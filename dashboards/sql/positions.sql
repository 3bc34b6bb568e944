SELECT account, exchange, symbol, quantity, average_price, mark_price,
       quantity * mark_price AS market_value,
       quantity * (mark_price - average_price) AS unrealized_pnl, realized_pnl, updated_at
FROM trading.positions ORDER BY account, symbol
