INSERT INTO trading.orders BY NAME SELECT * FROM orders_now
ON CONFLICT (client_order_id) DO UPDATE
SET status = excluded.status, filled_quantity = excluded.filled_quantity,
    average_price = excluded.average_price, reason = excluded.reason,
    updated_at = excluded.updated_at
