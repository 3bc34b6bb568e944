INSERT INTO trading.positions BY NAME SELECT * FROM positions_now
ON CONFLICT (account, exchange, symbol) DO UPDATE
SET quantity = excluded.quantity, average_price = excluded.average_price,
    realized_pnl = excluded.realized_pnl, mark_price = excluded.mark_price,
    updated_at = excluded.updated_at
