SELECT * FROM trading.orders ORDER BY decided_at_bar DESC, client_order_id LIMIT 500
